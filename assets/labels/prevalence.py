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


# Pseudo-annotations per class, each labelled right, added to the measured confusion counts: rates measured
# on few annotations are pulled toward "no error", so the adjusted share shrinks toward the raw one where
# its evidence is thin, and moves away from it only as far as the annotations support.
RATE_PRIOR = 1.0
# Off the diagonal a Dirichlet needs some mass; this little keeps an unseen error possible but unlikely.
UNSEEN_ERROR_PRIOR = 1e-2


def error_rates(rate_counts: np.ndarray, prior: float = RATE_PRIOR) -> np.ndarray:
    """The rates adjusted shares use: row-normalised confusion counts (rows true, columns labelled) with
    `prior` correctly labelled pseudo-items per class (a class never annotated is assumed recognised)."""
    smoothed = np.asarray(rate_counts, dtype=float) + prior * np.eye(len(rate_counts))
    return smoothed / smoothed.sum(axis=1, keepdims=True)


def adjusted_share_interval(
    counts: np.ndarray,
    rate_counts: np.ndarray,
    replicates: int = 400,
    level: float = 0.95,
    seed: int = 0,
    prior: float = RATE_PRIOR,
) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed interval of the adjusted shares of a group, from the posterior of both inputs.

    `counts`: the group's posts per labelled class; `rate_counts[i, j]`: annotated held-out items of
    true class i labelled j (the error rates' evidence). Each replicate draws the group's labelled shares
    (Dirichlet on its counts, Jeffreys prior) and every row of error rates (Dirichlet on its counts and the
    `prior` above), then adjusts: the interval carries the group's sampling error and the uncertainty of
    rates measured on few annotations, and follows the estimate's shrinkage toward raw.
    """
    rng = np.random.default_rng(seed)
    counts = np.asarray(counts, dtype=float)
    rate_counts = np.asarray(rate_counts, dtype=float)
    n_classes = len(counts)
    observed = rng.dirichlet(counts + 0.5, size=replicates)
    row_prior = prior * np.eye(n_classes) + UNSEEN_ERROR_PRIOR * (1 - np.eye(n_classes))
    rates = np.stack([rng.dirichlet(row + row_prior[i], size=replicates) for i, row in enumerate(rate_counts)], axis=1)
    estimates = np.array([adjusted_shares(observed[r], rates[r]) for r in range(replicates)])
    tail = (1 - level) / 2
    return np.quantile(estimates, tail, axis=0), np.quantile(estimates, 1 - tail, axis=0)
