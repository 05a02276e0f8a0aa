"""The labelling engine: a MiniLM-based classifier blended with TF-IDF + logistic regression, calibrated.

Trained either from a labelled file or from the taxonomy (descriptions and examples as training
texts). The MiniLM part is fine-tuned when there are enough training texts (a labelled file) and is
a logistic regression on frozen, window-pooled embeddings otherwise (the taxonomy's few examples).

Everything that would otherwise be a hand-set knob is chosen on held-out predictions of the
training data (5-fold out-of-fold predictions, or a 10% validation split when fine-tuning, which is
too costly to repeat per fold): the blend weight (short-text sets lean on TF-IDF, long-text sets on
MiniLM), a temperature that calibrates the probabilities, the confidence under which the engine
answers `uncertain`, and the misclassification rates used to adjust class shares.
"""

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline

from assets.labels.embedding import embed
from assets.labels.finetune import FineTuneConfig, FineTunedClassifier
from assets.labels.prevalence import misclassification_rates

UNCERTAIN = "uncertain"
BLEND_WEIGHTS = (0.0, 0.2, 0.35, 0.5, 0.65, 0.8, 1.0)  # weight of the TF-IDF model
# Fewer training texts than this (the taxonomy's examples) are too few to fine-tune on.
FINE_TUNE_MIN_TEXTS = 300
VALIDATION_SHARE = 0.1


def dense_model() -> LogisticRegression:
    return LogisticRegression(C=4.0, max_iter=3000, class_weight="balanced")


class FrozenEmbeddingClassifier:
    """Logistic regression on frozen, window-pooled MiniLM embeddings."""

    def fit(self, embeddings: np.ndarray, y: np.ndarray) -> "FrozenEmbeddingClassifier":
        self._model = dense_model().fit(embeddings, y)
        return self

    def predict_proba(self, texts: list[str], embeddings: np.ndarray | None = None) -> np.ndarray:
        return self._model.predict_proba(embed(texts) if embeddings is None else embeddings)


def sparse_model():
    return make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
        LogisticRegression(C=16.0, max_iter=3000, class_weight="balanced"),
    )


def _softmax_with_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    logits = np.log(np.clip(probabilities, 1e-12, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class Calibration:
    """What cross-validation chose, kept for reports and for adjusting shares."""

    fine_tuned: bool
    sparse_weight: float
    temperature: float
    uncertain_below: float
    held_out_macro_f1: float
    held_out_macro_f1_minilm: float
    held_out_macro_f1_tfidf: float
    rates: np.ndarray  # M[true, predicted]: mean held-out probability of `predicted` for items of `true`
    hard_rates: np.ndarray  # M[true, predicted]: share of held-out items of `true` labelled `predicted`


class LabelEngine:
    def __init__(self, fine_tune: bool | None = None, fine_tune_config: FineTuneConfig = FineTuneConfig(),
                 folds: int = 5, seed: int = 0):
        self.fine_tune = fine_tune  # None: fine-tune when there are FINE_TUNE_MIN_TEXTS texts or more
        self.fine_tune_config = fine_tune_config
        self.folds = folds
        self.seed = seed
        self.classes_: np.ndarray | None = None
        self.calibration: Calibration | None = None

    # -- training ---------------------------------------------------------------------------
    def fit(self, texts: list[str], labels: list[str], embeddings: np.ndarray | None = None) -> "LabelEngine":
        """`embeddings`: the texts' frozen embeddings, when the caller has them already."""
        self.classes_, y = np.unique(np.asarray(labels), return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError("training data needs at least two classes")
        fine_tune = len(texts) >= FINE_TUNE_MIN_TEXTS if self.fine_tune is None else self.fine_tune
        if fine_tune:
            held_out_y, dense_held_out, sparse_held_out = self._fit_fine_tuned(texts, y)
        else:
            embeddings = embed(texts) if embeddings is None else embeddings
            dense_held_out, sparse_held_out = self._out_of_fold(texts, embeddings, y)
            held_out_y = y
            self._dense = FrozenEmbeddingClassifier().fit(embeddings, y)
        self.calibration = self._calibrate(held_out_y, dense_held_out, sparse_held_out, fine_tuned=fine_tune)
        self._sparse = sparse_model().fit(texts, y) if self.calibration.sparse_weight > 0 else None
        return self

    def _fit_fine_tuned(self, texts: list[str], y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        fit_index, held_out = train_test_split(
            np.arange(len(y)), test_size=VALIDATION_SHARE, stratify=y, random_state=self.seed
        )
        fit_texts = [texts[i] for i in fit_index]
        held_out_texts = [texts[i] for i in held_out]
        self._dense = FineTunedClassifier(self.fine_tune_config).fit(fit_texts, y[fit_index], len(self.classes_))
        sparse = sparse_model().fit(fit_texts, y[fit_index]).predict_proba(held_out_texts)
        return y[held_out], self._dense.predict_proba(held_out_texts), sparse

    def _calibrate(self, y: np.ndarray, dense: np.ndarray, sparse: np.ndarray, fine_tuned: bool) -> Calibration:
        scores = {w: self._macro_f1(y, (1 - w) * dense + w * sparse) for w in BLEND_WEIGHTS}
        weight = max(scores, key=lambda w: (scores[w], -abs(w - 0.5)))
        blended = (1 - weight) * dense + weight * sparse
        temperature = self._fit_temperature(blended, y)
        calibrated = _softmax_with_temperature(blended, temperature)
        return Calibration(
            fine_tuned=fine_tuned,
            sparse_weight=weight,
            temperature=temperature,
            uncertain_below=self._uncertainty_threshold(calibrated, y),
            held_out_macro_f1=scores[weight],
            held_out_macro_f1_minilm=scores[0.0],
            held_out_macro_f1_tfidf=scores[1.0],
            rates=misclassification_rates(y, calibrated),
            hard_rates=misclassification_rates(y, np.eye(len(self.classes_))[calibrated.argmax(axis=1)]),
        )

    def _out_of_fold(self, texts, embeddings, y) -> tuple[np.ndarray, np.ndarray]:
        folds = min(self.folds, int(np.bincount(y).min()))
        if folds < 2:
            raise ValueError("every class needs at least two training texts")
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.seed)
        dense = np.zeros((len(y), len(self.classes_)))
        sparse = np.zeros_like(dense)
        text_array = np.asarray(texts, dtype=object)
        for train, held_out in splitter.split(embeddings, y):
            dense[held_out] = dense_model().fit(embeddings[train], y[train]).predict_proba(embeddings[held_out])
            sparse[held_out] = sparse_model().fit(text_array[train], y[train]).predict_proba(text_array[held_out])
        return dense, sparse

    @staticmethod
    def _macro_f1(y: np.ndarray, probabilities: np.ndarray) -> float:
        return f1_score(y, probabilities.argmax(axis=1), average="macro")

    @staticmethod
    def _fit_temperature(probabilities: np.ndarray, y: np.ndarray) -> float:
        def negative_log_likelihood(temperature: float) -> float:
            calibrated = _softmax_with_temperature(probabilities, temperature)
            return -np.log(np.clip(calibrated[np.arange(len(y)), y], 1e-12, 1.0)).mean()

        return float(minimize_scalar(negative_log_likelihood, bounds=(0.05, 10.0), method="bounded").x)

    @staticmethod
    def _uncertainty_threshold(probabilities: np.ndarray, y: np.ndarray) -> float:
        """The confidence under which out-of-fold predictions are more often wrong than right."""
        confidence = probabilities.max(axis=1)
        correct = (probabilities.argmax(axis=1) == y).astype(float)
        isotonic = IsotonicRegression(out_of_bounds="clip").fit(confidence, correct)
        grid = np.linspace(0, 1, 201)
        reliable = grid[isotonic.predict(grid) >= 0.5]
        return float(reliable[0]) if len(reliable) else 1.0

    # -- prediction -------------------------------------------------------------------------
    def predict_proba(self, texts: list[str], embeddings: np.ndarray | None = None) -> np.ndarray:
        if isinstance(self._dense, FineTunedClassifier):
            probabilities = self._dense.predict_proba(texts)
        else:
            probabilities = self._dense.predict_proba(texts, embeddings)
        if self._sparse is not None:
            weight = self.calibration.sparse_weight
            probabilities = (1 - weight) * probabilities + weight * self._sparse.predict_proba(texts)
        return _softmax_with_temperature(probabilities, self.calibration.temperature)

    def decide(self, probabilities: np.ndarray) -> "Decisions":
        """The most probable class of each row, its probability, and whether it is below the threshold."""
        best = probabilities.argmax(axis=1)
        confidence = probabilities[np.arange(len(best)), best]
        return Decisions(self.classes_[best], confidence, confidence < self.calibration.uncertain_below)

    def predict(self, texts: list[str], embeddings: np.ndarray | None = None) -> "Decisions":
        return self.decide(self.predict_proba(texts, embeddings))


@dataclass(frozen=True)
class Decisions:
    best: np.ndarray  # the most probable class
    confidence: np.ndarray  # its calibrated probability
    uncertain: np.ndarray  # confidence below the validated threshold

    @property
    def labels(self) -> np.ndarray:
        """The best class, or `uncertain` where the engine is not confident."""
        return np.where(self.uncertain, UNCERTAIN, self.best.astype(object))
