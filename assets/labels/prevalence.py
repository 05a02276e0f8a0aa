"""Class shares estimated from classifier output, corrected for the classifier's known errors.

Classify-and-count (CC) shares are biased whenever the classifier confuses classes. Probabilistic
adjusted classify-and-count (PACC) inverts the classifier's error structure, measured by
cross-validation on labelled data: if M[i, j] is the mean probability given to class j by items
whose true class is i, the observed mean probabilities q satisfy q = M^T p, and p is recovered by
non-negative least squares under the simplex constraint.
"""

import numpy as np
from scipy.optimize import nnls


def classify_and_count(predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Shares of hard predictions (class indices)."""
    counts = np.bincount(predicted, minlength=n_classes).astype(float)
    return counts / max(counts.sum(), 1.0)


def misclassification_rates(true: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """M[i, j]: mean probability of class j over items of true class i (rows sum to 1)."""
    n_classes = probabilities.shape[1]
    rates = np.zeros((n_classes, n_classes))
    for i in range(n_classes):
        members = probabilities[true == i]
        # A class absent from the validation data can only be assumed recognised perfectly.
        rates[i] = members.mean(axis=0) if len(members) else np.eye(n_classes)[i]
    return rates


def adjusted_shares(observed: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """Shares p >= 0, sum 1, that best explain the observed mean probabilities: observed ~ rates^T p."""
    # A heavily weighted row of ones enforces sum(p) = 1 inside the least-squares problem.
    weight = 1e3
    system = np.vstack([rates.T, weight * np.ones(rates.shape[0])])
    target = np.concatenate([observed, [weight]])
    shares, _ = nnls(system, target)
    total = shares.sum()
    return shares / total if total > 0 else observed


def adjusted_share_interval(
    counts: np.ndarray, rate_counts: np.ndarray, replicates: int = 400, level: float = 0.95, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval of the adjusted shares of a group.

    `counts`: the group's posts per labelled class; `rate_counts[i, j]`: annotated held-out items of
    true class i labelled j (the error rates' evidence). Each replicate resamples both, so the interval
    carries the uncertainty of the group's size and of the error rates measured on few annotations.
    """
    rng = np.random.default_rng(seed)
    n_classes = len(counts)
    n = counts.sum()
    totals = rate_counts.sum(axis=1)
    estimates = np.empty((replicates, n_classes))
    for replicate in range(replicates):
        observed = rng.multinomial(n, counts / n) / n
        rates = np.array(
            [
                rng.multinomial(total, row / total) / total if total > 0 else np.eye(n_classes)[i]
                for i, (total, row) in enumerate(zip(totals, rate_counts, strict=True))
            ]
        )
        estimates[replicate] = adjusted_shares(observed, rates)
    tail = (1 - level) / 2
    return np.quantile(estimates, tail, axis=0), np.quantile(estimates, 1 - tail, axis=0)
