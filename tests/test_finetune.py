"""The fine-tuned engine (behind the published CAMS figure) on a tiny training set."""

import numpy as np
import pytest

from stigma_insights.assets.labels.finetune import FineTuneConfig, FineTunedClassifier

from conftest import minilm

pytestmark = pytest.mark.slow  # trains a transformer

FAMILY = [
    "my parents say my depression is shameful",
    "my mother hides my pills from our relatives",
    "my family calls therapy a waste of money",
    "my dad says anxiety is just weakness",
    "my aunt told everyone I am crazy",
    "my brother laughs at my panic attacks",
]
WORK = [
    "my boss demoted me after my sick leave",
    "hr laughed at my request for accommodation",
    "my manager says burnout is an excuse",
    "coworkers avoid me since I mentioned my bipolar disorder",
    "I lost the promotion after disclosing ocd at work",
    "my team lead mocks people who see a therapist",
]
CONFIG = FineTuneConfig(epochs=6, max_tokens=32, batch_size=4, learning_rate=1e-4, seed=3)


def test_fine_tuning_learns_a_tiny_task_reproducibly_and_leaves_the_shared_encoder_as_it_was():
    texts, y = FAMILY + WORK, np.array([0] * len(FAMILY) + [1] * len(WORK))
    frozen_before = minilm().embed(texts[:2])

    first = FineTunedClassifier(CONFIG, minilm().settings).fit(texts, y, n_classes=2)
    again = FineTunedClassifier(CONFIG, minilm().settings).fit(texts, y, n_classes=2)
    probabilities = first.predict_proba(texts)

    assert (probabilities.argmax(axis=1) == y).mean() >= 0.9
    np.testing.assert_allclose(again.predict_proba(texts), probabilities, atol=1e-5)  # same seed, same model
    np.testing.assert_allclose(minilm().embed(texts[:2]), frozen_before, atol=1e-6)  # trained a copy


def test_a_text_longer_than_the_window_is_judged_on_all_of_it():
    texts, y = FAMILY + WORK, np.array([0] * len(FAMILY) + [1] * len(WORK))
    model = FineTunedClassifier(CONFIG, minilm().settings).fit(texts, y, n_classes=2)
    filler = " ".join(["the weather was grey and the bus was late again"] * 60)  # well past 256 tokens

    filler_only, work_at_the_end = model.predict_proba([filler, filler + " " + " ".join(WORK)])[:, 1]

    # The work texts sit past the first window: a model reading only that window would not move.
    assert work_at_the_end > filler_only + 0.1
