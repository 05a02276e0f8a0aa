"""Prevalence estimators on synthetic classifiers whose error rates and true shares are known."""

import numpy as np
import pytest

from stigma_insights.assets.labels.prevalence import adjusted_shares, classify_and_count, misclassification_rates

# A classifier that mistakes class 0 for class 1 a third of the time and class 2 for 0 a fifth.
CONFUSION = np.array([[0.60, 0.33, 0.07], [0.10, 0.85, 0.05], [0.20, 0.05, 0.75]])


def simulate(true_shares, n, seed):
    rng = np.random.default_rng(seed)
    true = rng.choice(3, size=n, p=true_shares)
    predicted = np.array([rng.choice(3, p=CONFUSION[t]) for t in true])
    return true, predicted


@pytest.mark.parametrize("true_shares", [(0.6, 0.3, 0.1), (0.2, 0.2, 0.6), (0.34, 0.33, 0.33)])
def test_adjusted_classify_and_count_recovers_shares_that_raw_counting_misses(true_shares):
    validation_true, validation_predicted = simulate((1 / 3, 1 / 3, 1 / 3), 6000, seed=1)
    rates = misclassification_rates(validation_true, np.eye(3)[validation_predicted])
    true, predicted = simulate(true_shares, 20000, seed=2)

    raw = classify_and_count(predicted, 3)
    adjusted = adjusted_shares(raw, rates)

    assert np.abs(adjusted - true_shares).max() < 0.02
    assert np.abs(raw - true_shares).max() > 0.05
    assert adjusted.min() >= 0 and abs(adjusted.sum() - 1) < 1e-9


def test_adjustment_stays_on_the_simplex_when_observations_are_impossible():
    shares = adjusted_shares(np.array([0.0, 0.0, 1.0]), np.eye(3) * 0.5 + 0.5 / 3)
    assert shares.min() >= 0 and abs(shares.sum() - 1) < 1e-9 and shares.argmax() == 2
