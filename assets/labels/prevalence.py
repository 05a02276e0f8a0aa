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


def pacc(probabilities: np.ndarray, rates: np.ndarray) -> np.ndarray:
    return adjusted_shares(probabilities.mean(axis=0), rates)
