"""The labelling engine: MiniLM, cue-pattern and TF-IDF classifiers blended and calibrated.

Trained on the taxonomy's examples plus annotated posts, or on a labelled file. Three members, each
a classifier giving class probabilities:
- MiniLM: logistic regression on frozen, window-pooled embeddings; or, when asked (`evaluate` on a
  big labelled file), the encoder fine-tuned with a classification head;
- cues: logistic regression on how often each of the taxonomy's cue patterns occurs in the text
  (question marks for seeking help, family words for community stigma...): few features, so it
  learns from a few dozen annotated posts where 384 embedding dimensions cannot;
- TF-IDF: word 1-2-gram TF-IDF + logistic regression.

Everything that would otherwise be a hand-set knob is chosen on held-out predictions (5-fold
out-of-fold, or a 10% validation split when fine-tuning): the members' blend weights, a temperature
that calibrates the probabilities, per-class decision offsets (added to the log-probabilities before
the most probable class is taken: balanced class weights alone do not give the best macro-F1), the
confidence under which the engine answers `uncertain`, and the confusion rates that adjust class
shares. Only the `scored` rows count for those choices: real annotated posts, when the training set
mixes them with the taxonomy's short written examples.
"""

import itertools
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix, f1_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from stigma_insights.assets.labels.prevalence import error_rates, misclassification_rates
from stigma_insights.settings import EmbeddingSettings

BLEND_STEP = 0.2  # blend weights are searched on a simplex grid of this step
# Decision offsets (log-probability) are searched on this grid, class by class, for classes with at least
# OFFSET_MIN_ITEMS scored held-out items (fewer cannot tell a better offset from chance).
OFFSET_GRID = np.round(np.arange(-2.0, 2.0001, 0.1), 1)
OFFSET_MIN_ITEMS = 10
VALIDATION_SHARE = 0.1
# The unscored (taxonomy) rows together weigh as much as the scored ones, up to this many: past it the
# annotated real posts outweigh them (see LabelEngine.fit). On the gold set's 1,587 posts, relevance
# macro-F1 0.757 with the taxonomy weighing all of them, 0.778 weighing 400; on the 331 relevant posts
# (domain, intent) weighing all 331 scored best.
TAXONOMY_WEIGHT_MAX_POSTS = 400


def _required(embeddings: np.ndarray | None) -> np.ndarray:
    if embeddings is None:
        raise ValueError("the frozen engine needs the texts' MiniLM embeddings (MiniLM.embed)")
    return embeddings


def dense_model() -> LogisticRegression:
    return LogisticRegression(C=4.0, max_iter=3000, class_weight="balanced")


class FrozenEmbeddingClassifier:
    """Logistic regression on frozen, window-pooled MiniLM embeddings."""

    def fit(
        self, embeddings: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None
    ) -> "FrozenEmbeddingClassifier":
        self._model = dense_model().fit(embeddings, y, sample_weight=weights)
        return self

    def predict_proba(self, embeddings: np.ndarray) -> np.ndarray:
        return self._model.predict_proba(embeddings)


class CueCounts(BaseEstimator, TransformerMixin):
    """Per cue pattern: log(1 + matches) and whether it matches at all; plus log(1 + words)."""

    def __init__(self, patterns: tuple[str, ...] = ()):
        self.patterns = patterns

    def fit(self, texts, y=None) -> "CueCounts":
        return self

    def transform(self, texts) -> np.ndarray:
        compiled = [re.compile(pattern, re.IGNORECASE) for pattern in self.patterns]
        counts = np.array([[len(p.findall(text)) for p in compiled] for text in texts], dtype=float)
        counts = counts.reshape(len(texts), len(compiled))
        words = np.array([[len(text.split())] for text in texts], dtype=float)
        return np.hstack([np.log1p(counts), (counts > 0).astype(float), np.log1p(words)])


def cue_model(patterns: tuple[str, ...]):
    return make_pipeline(
        CueCounts(patterns), StandardScaler(), LogisticRegression(C=1.0, max_iter=3000, class_weight="balanced")
    )


def sparse_model(min_df: int = 1):
    return make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=min_df),
        LogisticRegression(C=16.0, max_iter=3000, class_weight="balanced"),
    )


def _softmax_with_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    logits = np.log(np.clip(probabilities, 1e-12, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=1, keepdims=True)


def decisions(probabilities: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The class of each row: the most probable once the per-class decision offsets are added."""
    return (np.log(np.clip(probabilities, 1e-12, 1.0)) + offsets).argmax(axis=1)


def blend_grid(members: tuple[str, ...]) -> list[dict[str, float]]:
    """Every weighting of the members on a simplex grid (weights >= 0, summing to 1)."""
    steps = round(1 / BLEND_STEP)
    return [
        {m: k / steps for m, k in zip(members, split, strict=True)}
        for split in itertools.product(range(steps + 1), repeat=len(members))
        if sum(split) == steps
    ]


@dataclass(frozen=True)
class Calibration:
    """What held-out predictions chose, kept for reports and for adjusting shares."""

    fine_tuned: bool
    weights: dict[str, float]  # blend weight per member
    temperature: float
    decision_offsets: np.ndarray  # per class, added to the log-probabilities before the argmax
    uncertain_below: float
    held_out_macro_f1: float  # the blend, on the scored rows
    member_macro_f1: dict[str, float]  # each member alone, on the scored rows
    scored: int  # held-out rows the choices were made on
    rates: np.ndarray  # M[true, predicted]: mean held-out probability of `predicted` for items of `true`
    hard_counts: np.ndarray  # C[true, predicted]: held-out items of `true` labelled `predicted`

    @property
    def hard_rates(self) -> np.ndarray:
        """Share of held-out items of each true class labelled as each class (rows sum to 1), with the
        prior that adjusted shares use (prevalence.error_rates)."""
        return error_rates(self.hard_counts)


class LabelEngine:
    def __init__(
        self,
        cues: tuple[str, ...] = (),
        fine_tune: bool = False,
        fine_tune_config=None,
        fine_tune_settings: EmbeddingSettings | None = None,
        folds: int = 5,
        seed: int = 0,
        words: bool = True,
        min_df: int = 1,
    ):
        self.cues = tuple(cues)  # the dimension's cue patterns; none: no cue member
        # False: the embedding member alone, for texts in languages the English word members never saw
        # (they would read every such text as one without cues or known words).
        self.words = words
        # The TF-IDF member's vocabulary: terms in at least `min_df` training texts (a shipped engine keeps
        # no rare word that could point back at one text).
        self.min_df = min_df
        self.fine_tune = fine_tune  # fine-tune MiniLM (costly: for big labelled files) or use it frozen
        self.fine_tune_config = fine_tune_config
        self.fine_tune_settings = fine_tune_settings  # the packaged model a fine-tune starts from
        self.folds = folds
        self.seed = seed
        # Set by fit(): the classes in label order, and what the held-out predictions measured.
        self.classes_: np.ndarray
        self.calibration: Calibration
        self._minilm: Any  # FrozenEmbeddingClassifier, or FineTunedClassifier when fine-tuning

    @property
    def members(self) -> tuple[str, ...]:
        return ("minilm", *self._member_models())

    def _member_models(self) -> dict:
        """The word members (cue patterns, TF-IDF) beside the embedding one."""
        models = {"tfidf": sparse_model(self.min_df)} if self.words else {}
        if self.cues and self.words:
            models["cues"] = cue_model(self.cues)
        return models

    # -- training ---------------------------------------------------------------------------
    def fit(
        self,
        texts: list[str],
        labels: list[str],
        embeddings: np.ndarray | None = None,
        scored: np.ndarray | None = None,
    ) -> "LabelEngine":
        """`embeddings`: the texts' frozen MiniLM embeddings (none when fine-tuning).
        `scored`: which rows the held-out choices and figures are made on (default: all)."""
        self.classes_, y = np.unique(np.asarray(labels), return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError("training data needs at least two classes")
        scored = np.ones(len(y), dtype=bool) if scored is None else np.asarray(scored, dtype=bool)
        # The unscored rows (the taxonomy's short written texts) stand for the short posts and comments
        # that annotated long posts under-represent: together they weigh as much as the scored rows, up to
        # TAXONOMY_WEIGHT_MAX_POSTS of them.
        weights = (
            np.where(scored, 1.0, min(scored.sum(), TAXONOMY_WEIGHT_MAX_POSTS) / max((~scored).sum(), 1))
            if (~scored).any()
            else np.ones(len(y))
        )
        if self.fine_tune:
            held_out, choosing = self._fit_fine_tuned(texts, y)
            measuring = choosing
        else:
            embeddings = _required(embeddings)
            held_out = np.arange(len(y))
            choosing = self._out_of_fold(texts, embeddings, y, weights, self.seed)
            # The blend is chosen as the best of many on `choosing`, which flatters its error rates
            # there; rates, temperature and threshold come from folds cut another way.
            measuring = self._out_of_fold(texts, embeddings, y, weights, self.seed + 1)
            self._minilm = FrozenEmbeddingClassifier().fit(embeddings, y, weights)
        keep = scored[held_out]
        if not keep.any():
            raise ValueError("no scored rows among the held-out predictions")
        self.calibration = self._calibrate(
            y[held_out][keep],
            {m: p[keep] for m, p in choosing.items()},
            {m: p[keep] for m, p in measuring.items()},
            fine_tuned=self.fine_tune,
        )
        self._others = {
            name: model.fit(texts, y, logisticregression__sample_weight=weights)
            for name, model in self._member_models().items()
            if self.calibration.weights[name] > 0
        }
        return self

    def _fit_fine_tuned(self, texts: list[str], y: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        from stigma_insights.assets.labels.finetune import (  # torch: imported only here
            FineTuneConfig,
            FineTunedClassifier,
        )

        fit_index, held_out = train_test_split(
            np.arange(len(y)), test_size=VALIDATION_SHARE, stratify=y, random_state=self.seed
        )
        fit_texts = [texts[i] for i in fit_index]
        held_out_texts = [texts[i] for i in held_out]
        config = self.fine_tune_config or FineTuneConfig()
        if self.fine_tune_settings is None:
            raise ValueError("fine-tuning needs fine_tune_settings: the packaged model to start from")
        self._minilm = FineTunedClassifier(config, self.fine_tune_settings).fit(
            fit_texts, y[fit_index], len(self.classes_)
        )
        probabilities = {"minilm": self._minilm.predict_proba(held_out_texts)}
        for name, model in self._member_models().items():
            probabilities[name] = model.fit(fit_texts, y[fit_index]).predict_proba(held_out_texts)
        return held_out, probabilities

    def _out_of_fold(self, texts, embeddings, y, weights, seed: int) -> dict[str, np.ndarray]:
        folds = min(self.folds, int(np.bincount(y).min()))
        if folds < 2:
            raise ValueError("every class needs at least two training texts")
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        probabilities = {m: np.zeros((len(y), len(self.classes_))) for m in self.members}
        text_array = np.asarray(texts, dtype=object)
        for train, held_out in splitter.split(embeddings, y):
            probabilities["minilm"][held_out] = (
                dense_model()
                .fit(embeddings[train], y[train], sample_weight=weights[train])
                .predict_proba(embeddings[held_out])
            )
            for name, model in self._member_models().items():
                probabilities[name][held_out] = model.fit(
                    text_array[train], y[train], logisticregression__sample_weight=weights[train]
                ).predict_proba(text_array[held_out])
        return probabilities

    def _calibrate(
        self, y: np.ndarray, choosing: dict[str, np.ndarray], measuring: dict[str, np.ndarray], fine_tuned: bool
    ) -> Calibration:
        def blend(held_out: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
            return np.sum([weight * held_out[m] for m, weight in weights.items()], axis=0)

        uniform = 1 / len(choosing)
        scores = [(self._macro_f1(y, blend(choosing, w)), w) for w in blend_grid(tuple(choosing))]
        # The best macro-F1; among equals the most even blend, which is the least fitted to chance.
        _, weights = max(scores, key=lambda s: (s[0], -sum(abs(v - uniform) for v in s[1].values())))
        blended = blend(measuring, weights)
        temperature = self._fit_temperature(blended, y)
        calibrated = _softmax_with_temperature(blended, temperature)
        # Chosen on the folds that chose the blend, measured (like everything below) on the others.
        offsets = self._decision_offsets(_softmax_with_temperature(blend(choosing, weights), temperature), y)
        decided = decisions(calibrated, offsets)
        n_classes = len(self.classes_)
        return Calibration(
            fine_tuned=fine_tuned,
            weights=weights,
            temperature=temperature,
            decision_offsets=offsets,
            uncertain_below=self._uncertainty_threshold(calibrated, decided, y),
            held_out_macro_f1=self._macro_f1(y, calibrated, offsets),
            member_macro_f1={m: self._macro_f1(y, p) for m, p in measuring.items()},
            scored=len(y),
            rates=misclassification_rates(y, calibrated),
            hard_counts=confusion_matrix(y, decided, labels=np.arange(n_classes)),
        )

    @staticmethod
    def _macro_f1(y: np.ndarray, probabilities: np.ndarray, offsets: np.ndarray | None = None) -> float:
        """Over the classes present in `y`: a class never seen held out cannot be scored."""
        predicted = probabilities.argmax(axis=1) if offsets is None else decisions(probabilities, offsets)
        return f1_score(y, predicted, labels=np.unique(y), average="macro", zero_division=0)

    def _decision_offsets(self, probabilities: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per-class log-probability offsets that maximise held-out macro-F1, found class by class on a grid
        (two passes); among equal scores the smallest offset, so a class keeps 0 unless it gains."""
        offsets = np.zeros(probabilities.shape[1])
        tunable = np.flatnonzero(np.bincount(y, minlength=len(offsets)) >= OFFSET_MIN_ITEMS)
        if len(tunable) < 2:
            return offsets
        for _ in range(2):
            for label in tunable:
                trials = []
                for value in OFFSET_GRID:
                    trial = offsets.copy()
                    trial[label] = value
                    trials.append((self._macro_f1(y, probabilities, trial), -abs(value), value))
                offsets[label] = max(trials)[2]
        return offsets

    @staticmethod
    def _fit_temperature(probabilities: np.ndarray, y: np.ndarray) -> float:
        def negative_log_likelihood(temperature: float) -> float:
            calibrated = _softmax_with_temperature(probabilities, temperature)
            return -np.log(np.clip(calibrated[np.arange(len(y)), y], 1e-12, 1.0)).mean()

        return float(minimize_scalar(negative_log_likelihood, bounds=(0.05, 10.0), method="bounded").x)

    @staticmethod
    def _uncertainty_threshold(probabilities: np.ndarray, decided: np.ndarray, y: np.ndarray) -> float:
        """The confidence under which out-of-fold decisions are more often wrong than right."""
        confidence = probabilities[np.arange(len(y)), decided]
        correct = (decided == y).astype(float)
        isotonic = IsotonicRegression(out_of_bounds="clip").fit(confidence, correct)
        grid = np.linspace(0, 1, 201)
        reliable = grid[isotonic.predict(grid) >= 0.5]
        return float(reliable[0]) if len(reliable) else 1.0

    # -- prediction -------------------------------------------------------------------------
    def predict_proba(self, texts: list[str], embeddings: np.ndarray | None = None) -> np.ndarray:
        weights = self.calibration.weights
        probabilities = np.zeros((len(texts), len(self.classes_)))
        if weights["minilm"] > 0:
            minilm = self._minilm.predict_proba(texts if self.fine_tune else _required(embeddings))
            probabilities += weights["minilm"] * minilm
        for name, model in self._others.items():
            probabilities += weights[name] * model.predict_proba(texts)
        return _softmax_with_temperature(probabilities, self.calibration.temperature)

    def decide(self, probabilities: np.ndarray) -> "Decisions":
        """The class of each row (the most probable, with the decision offsets), its probability, and whether
        it is below the threshold."""
        best = decisions(probabilities, self.calibration.decision_offsets)
        confidence = probabilities[np.arange(len(best)), best]
        return Decisions(self.classes_[best], confidence, confidence < self.calibration.uncertain_below)

    def predict(self, texts: list[str], embeddings: np.ndarray | None = None) -> "Decisions":
        return self.decide(self.predict_proba(texts, embeddings))


@dataclass(frozen=True)
class Decisions:
    best: np.ndarray  # the most probable class
    confidence: np.ndarray  # its calibrated probability
    uncertain: np.ndarray  # confidence below the validated threshold
