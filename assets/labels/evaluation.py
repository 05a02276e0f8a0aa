"""Score the labelling engine and two baselines: on one train/test split, or by K-fold cross-validation.

Cross-validation never scores a row with an engine that saw it: the K test folds partition the
labelled file, each fold's engine trains on the other folds (plus, optionally, the taxonomy's
texts, as the pipeline does) and chooses its blend, temperature and error rates on inner folds of
that training data only. Shares are estimated on each test fold as the marts do (classify-and-count,
and adjusted by the training data's cross-fitted error rates, with the interval the marts quote) and
compared with the fold's truth: how far off, and how often the quoted 95% interval holds it.

Texts are routed by language as the labels asset routes posts: those not in English (when routing is
on) are labelled by an engine on the multilingual model's vectors alone, trained on the same texts.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from stigma_insights.assets.labels.datasets import LabelledTexts
from stigma_insights.assets.labels.embedding import MiniLM
from stigma_insights.assets.labels.empathy import LEVELS, MECHANISMS, ReplyPairs, empathy_engine
from stigma_insights.assets.labels.empathy import features as empathy_features
from stigma_insights.assets.labels.engine import Decisions, LabelEngine, sparse_model
from stigma_insights.assets.labels.labeller import TrainingSet
from stigma_insights.assets.labels.language import detect_languages
from stigma_insights.assets.labels.multilingual import embed_multilingual, multilingual_model_id
from stigma_insights.assets.labels.prevalence import (
    adjusted_share_interval,
    adjusted_shares,
    classify_and_count,
)
from stigma_insights.assets.labels.progress import Progress
from stigma_insights.assets.labels.routes import routes_to_multilingual


def training_set_from_file(data: LabelledTexts) -> TrainingSet:
    return TrainingSet(data.texts, data.labels, [True] * len(data.texts), f"{data.source} ({len(data.texts)} texts)")


@dataclass(frozen=True)
class TextVectors:
    """What an evaluation knows of its texts, row by row: the engine's vectors (None: the engine embeds or
    fine-tunes itself), MiniLM's first window (the embedding baseline), and, where some texts route to the
    multilingual model, which ones and that model's vectors."""

    engine: np.ndarray | None
    truncated: np.ndarray
    routed: np.ndarray | None = None
    multilingual: np.ndarray | None = None

    def __getitem__(self, index: np.ndarray) -> "TextVectors":
        def rows(values: np.ndarray | None) -> np.ndarray | None:
            return None if values is None else values[index]

        return TextVectors(rows(self.engine), self.truncated[index], rows(self.routed), rows(self.multilingual))

    @classmethod
    def of(cls, texts: list[str], engine: np.ndarray | None, minilm: MiniLM) -> "TextVectors":
        """With the routing of the labels asset (as `minilm`'s settings say): multilingual vectors only where
        some text needs them."""
        routed = None
        if minilm.settings.multilingual != "off":
            routed = np.array([routes_to_multilingual(language.code) for language in detect_languages(texts)])
        if routed is None or not routed.any():
            return cls(engine, minilm.embed_truncated(texts))
        return cls(engine, minilm.embed_truncated(texts), routed, embed_multilingual(texts))


@dataclass(frozen=True)
class FoldResult:
    true: np.ndarray
    predicted: np.ndarray
    uncertain: np.ndarray
    share_true: np.ndarray  # per engine class
    share_counted: np.ndarray
    share_adjusted: np.ndarray
    share_adjusted_low: np.ndarray  # the adjusted share's 95% interval, as the marts quote it
    share_adjusted_high: np.ndarray
    baselines: dict[str, np.ndarray]  # baseline name -> predicted labels


def _run_fold(
    engine: LabelEngine,
    classes: np.ndarray,
    train: TrainingSet,
    test_texts: list[str],
    test_labels: np.ndarray,
    train_vectors: TextVectors,
    test_vectors: TextVectors,
) -> FoldResult:
    """`classes`: every class of the evaluation, in order (a fold's training data may lack one)."""
    engine.fit(train.texts, train.labels, train_vectors.engine, scored=np.asarray(train.scored))
    decisions = engine.predict(test_texts, test_vectors.engine)
    routed, multilingual_vectors = test_vectors.routed, test_vectors.multilingual
    if routed is not None and multilingual_vectors is not None and routed.any():
        # As the pipeline labels: the multilingual route's engine, on its vectors alone, for those texts.
        multilingual = LabelEngine(words=False, folds=engine.folds, seed=engine.seed).fit(
            train.texts, train.labels, train_vectors.multilingual, scored=np.asarray(train.scored)
        )
        theirs = multilingual.predict(list(np.asarray(test_texts, dtype=object)[routed]), multilingual_vectors[routed])
        best, confidence, uncertain = (
            decisions.best.astype(object),
            decisions.confidence.copy(),
            decisions.uncertain.copy(),
        )
        best[routed], confidence[routed], uncertain[routed] = theirs.best, theirs.confidence, theirs.uncertain
        decisions = Decisions(best, confidence, uncertain)
    known = np.searchsorted(classes, engine.classes_)
    predicted = np.searchsorted(classes, decisions.best)
    counted = classify_and_count(predicted, len(classes))
    adjusted, low, high = np.zeros(len(classes)), np.zeros(len(classes)), np.zeros(len(classes))
    adjusted[known] = adjusted_shares(counted[known], engine.calibration.hard_rates)
    low[known], high[known] = adjusted_share_interval(
        np.bincount(predicted, minlength=len(classes))[known], engine.calibration.hard_counts
    )
    baseline_labels = np.asarray(train.labels)
    return FoldResult(
        true=test_labels,
        predicted=decisions.best,
        uncertain=decisions.uncertain,
        share_true=np.array([(test_labels == c).mean() for c in classes]),
        share_counted=counted,
        share_adjusted=adjusted,
        share_adjusted_low=low,
        share_adjusted_high=high,
        baselines={
            "tfidf_lr": sparse_model().fit(train.texts, baseline_labels).predict(test_texts),
            "embedding_lr": LogisticRegression(max_iter=3000)
            .fit(train_vectors.truncated, baseline_labels)
            .predict(test_vectors.truncated),
        },
    )


def wilson_interval(share: np.ndarray, n: np.ndarray, z: float = 1.959964) -> tuple[np.ndarray, np.ndarray]:
    """The 95% Wilson interval of a share of n items (the marts' SQL formula)."""
    centre = (share + z**2 / (2 * n)) / (1 + z**2 / n)
    half_width = z * np.sqrt(share * (1 - share) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return np.maximum(0, centre - half_width), np.minimum(1, centre + half_width)


def routing(scored: TextVectors) -> dict:
    """How many of the scored texts the multilingual model labelled, as the pipeline would route them."""
    routed = 0 if scored.routed is None else int(scored.routed.sum())
    return {"routed_to_multilingual": {"texts": routed, "model": multilingual_model_id() if routed else None}}


def _scores(true: np.ndarray, predicted: np.ndarray) -> dict:
    """Macro-F1 over the classes present in the truth (a class nobody annotated cannot be scored)."""
    return {
        "macro_f1": float(f1_score(true, predicted, labels=np.unique(true), average="macro", zero_division=0)),
        "accuracy": float(accuracy_score(true, predicted)),
    }


def _report(
    model_id: str,
    engine: LabelEngine,
    classes: np.ndarray,
    folds: list[FoldResult],
    train_description: str,
    test_description: str,
    started: float,
) -> dict:
    true = np.concatenate([f.true for f in folds])
    predicted = np.concatenate([f.predicted for f in folds])
    uncertain = np.concatenate([f.uncertain for f in folds])
    labels = list(classes)
    precision, recall, f1, support = precision_recall_fscore_support(true, predicted, labels=labels, zero_division=0)
    share = {
        name: np.array([getattr(f, name) for f in folds])
        for name in ("share_true", "share_counted", "share_adjusted", "share_adjusted_low", "share_adjusted_high")
    }
    truth = share["share_true"]
    covered = (share["share_adjusted_low"] <= truth) & (truth <= share["share_adjusted_high"])
    # The raw share's Wilson interval, for comparison: it carries sampling error only, not the engine's.
    fold_sizes = np.array([[len(f.true)] for f in folds])
    raw_low, raw_high = wilson_interval(share["share_counted"], fold_sizes)
    raw_covered = (raw_low <= truth) & (truth <= raw_high)
    error_before = np.abs(share["share_counted"] - share["share_true"]).mean(axis=0)
    error_after = np.abs(share["share_adjusted"] - share["share_true"]).mean(axis=0)
    accepted = ~uncertain
    calibration = engine.calibration
    return {
        "model": model_id,
        "train": train_description,
        "test": test_description,
        "folds": len(folds),
        **_scores(true, predicted),
        "per_class": {
            label: {"precision": float(p), "recall": float(r), "f1": float(s), "support": int(n)}
            for label, p, r, s, n in zip(labels, precision, recall, f1, support, strict=True)
        },
        "confusion_matrix": {
            "labels": labels,
            "rows_true_columns_predicted": confusion_matrix(true, predicted, labels=labels).tolist(),
        },
        # Mean over test folds of |estimated share - true share|, per class: the marts' two estimators.
        "prevalence_error": {
            str(c): {
                "true_share": float(share["share_true"][:, i].mean()),
                "classify_and_count": float(share["share_counted"][:, i].mean()),
                "adjusted": float(share["share_adjusted"][:, i].mean()),
                "error_before": float(error_before[i]),
                "error_after": float(error_after[i]),
            }
            for i, c in enumerate(classes)
        },
        "mean_prevalence_error": {
            "before": float(error_before.mean()),
            "after": float(error_after.mean()),
            "max_before": float(error_before.max()),
            "max_after": float(error_after.max()),
        },
        # How often the adjusted share's 95% interval held the test fold's true share, per class.
        "quoted_interval": {
            "coverage": {str(c): float(covered[:, i].mean()) for i, c in enumerate(classes)},
            "coverage_all": float(covered.mean()),
            "mean_width": float((share["share_adjusted_high"] - share["share_adjusted_low"]).mean()),
            "raw_wilson_coverage": {str(c): float(raw_covered[:, i].mean()) for i, c in enumerate(classes)},
        },
        "uncertain": {
            "threshold": calibration.uncertain_below,
            "coverage": float(accepted.mean()),
            "accuracy_when_certain": float((predicted[accepted] == true[accepted]).mean()) if accepted.any() else None,
        },
        "engine": {
            "fine_tuned": calibration.fine_tuned,
            "weights": calibration.weights,
            "temperature": calibration.temperature,
            "held_out_macro_f1": calibration.held_out_macro_f1,
            "member_macro_f1": calibration.member_macro_f1,
        },
        "baselines": {
            name: _scores(true, np.concatenate([f.baselines[name] for f in folds])) for name in folds[0].baselines
        },
        "seconds": time.perf_counter() - started,
    }


def evaluate(
    train: TrainingSet, test: LabelledTexts, minilm: MiniLM, cues: tuple[str, ...] = (), fine_tune: bool = False
) -> dict:
    """Train on `train`, score on `test`. `fine_tune`: fine-tune MiniLM (costly) instead of the frozen
    embeddings the pipeline labels with."""
    started = time.perf_counter()
    engine = LabelEngine(cues=cues, fine_tune=fine_tune, fine_tune_settings=minilm.settings)
    test_labels = np.asarray(test.labels)
    classes = np.unique(np.concatenate([train.labels, test_labels]))
    test_vectors = TextVectors.of(test.texts, None if fine_tune else minilm.embed(test.texts, progress=True), minilm)
    train_vectors = TextVectors(
        None if fine_tune else minilm.embed(train.texts, progress=True),
        minilm.embed_truncated(train.texts),
        multilingual=None if test_vectors.routed is None else embed_multilingual(train.texts),
    )
    fold = _run_fold(engine, classes, train, test.texts, test_labels, train_vectors, test_vectors)
    test_description = (
        f"{test.source} ({len(test.texts)} texts, {test.dropped_rows} rows without text or label skipped)"
    )
    report = _report(minilm.model_id, engine, classes, [fold], train.description, test_description, started)
    return report | routing(test_vectors)


def cross_validate(
    data: LabelledTexts,
    folds: int,
    minilm: MiniLM,
    extra: TrainingSet | None = None,
    cues: tuple[str, ...] = (),
    seed: int = 0,
    embed_texts: Callable[[list[str]], np.ndarray] | None = None,
    words: bool = True,
    repeats: int = 1,
) -> dict:
    """K-fold cross-validation on `data` (stratified; test folds never overlap); each fold's engine
    also trains on `extra` (e.g. the taxonomy's texts), which is never scored. `embed_texts`: the
    engine's embedding model (default `minilm`; the baseline keeps MiniLM's first window); `words`: with the
    word members (cues, TF-IDF); `repeats`: the K folds cut `repeats` times (seeds seed, seed + 1, ...),
    for steadier figures and more test folds to measure the quoted interval's coverage on."""
    started = time.perf_counter()
    labels = np.asarray(data.labels)
    values, counts = np.unique(labels, return_counts=True)
    # A class rarer than the folds cannot be in every test fold: it is scored where it falls.
    stratify = np.where(np.isin(labels, values[counts >= folds]), labels, "__rare__")
    all_texts = data.texts + (extra.texts if extra else [])
    vectors = TextVectors.of(
        all_texts, minilm.embed(all_texts, progress=True) if embed_texts is None else embed_texts(all_texts), minilm
    )
    extra_index = np.arange(len(data.texts), len(all_texts))
    engine = LabelEngine(cues=cues, words=words)
    classes = np.unique(np.concatenate([labels, extra.labels if extra else []]))
    results = []
    progress = Progress(f"cross-validation on {len(labels)} texts", folds * repeats, "folds", every_s=0)
    splits = [
        split
        for repeat in range(repeats)
        for split in StratifiedKFold(folds, shuffle=True, random_state=seed + repeat).split(labels, stratify)
    ]
    for train_index, test_index in splits:
        fold_train = TrainingSet(
            [data.texts[i] for i in train_index], labels[train_index].tolist(), [True] * len(train_index), ""
        )
        train = (extra + fold_train) if extra else fold_train
        train_index = np.concatenate([extra_index, train_index]) if extra else train_index
        results.append(
            _run_fold(
                engine,
                classes,
                train,
                [data.texts[i] for i in test_index],
                labels[test_index],
                vectors[train_index],
                vectors[test_index],
            )
        )
        progress.advance()
    train_description = (
        f"{folds}-fold cross-validation"
        + (f" x {repeats}" if repeats > 1 else "")
        + (f", each fold also trained on {extra.description}" if extra else "")
    )
    test_description = f"{data.source} ({len(labels)} texts, {data.dropped_rows} rows without text or label skipped)"
    report = _report(minilm.model_id, engine, classes, results, train_description, test_description, started) | routing(
        vectors[np.arange(len(labels))]
    )
    # Each row's held-out label (from the first cut of the folds), in the file's row order.
    first_cut = np.concatenate([test for _, test in splits[:folds]])
    predicted = np.empty(len(labels), dtype=object)
    predicted[first_cut] = np.concatenate([r.predicted for r in results[:folds]])
    return report | {"out_of_fold_predictions": [str(p) for p in predicted]}


def format_report(report: dict) -> str:
    engine = report["engine"]
    weights = ", ".join(f"{m} {w:.1f}" for m, w in engine["weights"].items())
    routed = report["routed_to_multilingual"]
    lines = [
        f"model: {report['model']}"
        + (f" ({routed['texts']} texts not in English labelled by {routed['model']})" if routed["texts"] else ""),
        f"train: {report['train']}",
        f"test:  {report['test']}",
        f"engine        macro-F1 {report['macro_f1']:.3f}  accuracy {report['accuracy']:.3f}"
        f"  ({'fine-tuned' if engine['fine_tuned'] else 'frozen'} MiniLM; blend {weights}"
        f"{' in the last fold' if report['folds'] > 1 else ''})",
    ]
    for name, scores in report["baselines"].items():
        lines.append(f"{name:13s} macro-F1 {scores['macro_f1']:.3f}  accuracy {scores['accuracy']:.3f}")
    uncertain = report["uncertain"]
    lines.append(
        f"uncertain below {uncertain['threshold']:.2f}: coverage {uncertain['coverage']:.3f},"
        f" accuracy when certain {uncertain['accuracy_when_certain'] or 0:.3f}"
    )
    lines += ["", f"{'class':>20s} {'prec':>6s} {'recall':>6s} {'f1':>6s} {'n':>5s}"]
    for label, s in report["per_class"].items():
        lines.append(f"{label:>20s} {s['precision']:6.3f} {s['recall']:6.3f} {s['f1']:6.3f} {s['support']:5d}")
    matrix = report["confusion_matrix"]
    lines += ["", "confusion matrix (rows true, columns predicted): " + " ".join(matrix["labels"])]
    for label, row in zip(matrix["labels"], matrix["rows_true_columns_predicted"], strict=True):
        lines.append(f"{label:>20s} " + " ".join(f"{v:5d}" for v in row))
    lines += [
        "",
        "shares (mean over test folds): true, classify-and-count (CC), adjusted, and their errors",
        f"{'class':>20s} {'true':>6s} {'CC':>6s} {'adj':>6s} {'err CC':>7s} {'err adj':>8s}",
    ]
    for label, p in report["prevalence_error"].items():
        lines.append(
            f"{label:>20s} {p['true_share']:6.3f} {p['classify_and_count']:6.3f} {p['adjusted']:6.3f}"
            f" {p['error_before']:7.3f} {p['error_after']:8.3f}"
        )
    mean = report["mean_prevalence_error"]
    lines.append(
        f"share error per class: mean {mean['before']:.3f} (max {mean['max_before']:.3f}) before"
        f" adjustment, {mean['after']:.3f} (max {mean['max_after']:.3f}) after"
    )
    quoted = report["quoted_interval"]
    coverage = ", ".join(f"{label} {value:.2f}" for label, value in quoted["coverage"].items())
    raw_coverage = ", ".join(f"{label} {value:.2f}" for label, value in quoted["raw_wilson_coverage"].items())
    lines.append(
        f"adjusted share's 95% interval held the true share in {quoted['coverage_all']:.0%} of class-folds"
        f" ({coverage}); mean width {quoted['mean_width']:.3f}; the raw share's Wilson interval: {raw_coverage}"
    )
    lines.append(f"time: {report['seconds']:.0f} s")
    return "\n".join(lines)


def cross_validate_empathy(
    pairs: ReplyPairs, reply_vectors: np.ndarray, parent_vectors: np.ndarray, folds: int = 5, seed: int = 0
) -> dict:
    """Per mechanism of EPITOME, K-fold cross-validation grouped by the post replied to (no post's replies
    on both sides): macro-F1 over the three levels of the empathy engines, read with the parent ("pair")
    and alone ("reply_only"), and of TF-IDF+LR and embedding+LR on the reply, on the same folds."""
    texts = np.asarray(pairs.replies, dtype=object)
    report: dict = {"pairs": len(texts), "folds": folds, "grouped_by": "post replied to", "mechanisms": {}}
    progress = Progress(f"empathy cross-validation on {len(texts)} replies", folds * len(MECHANISMS), "folds")
    for mechanism in MECHANISMS:
        levels = np.asarray(pairs.levels[mechanism])
        predicted = {
            name: np.empty(len(levels), dtype=object) for name in ("pair", "reply_only", "tfidf_lr", "embedding_lr")
        }
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        for train, test in splitter.split(reply_vectors, levels, pairs.threads):
            for context, parents in (("pair", parent_vectors), ("reply_only", None)):
                inputs = empathy_features(reply_vectors, parents)
                engine = empathy_engine(seed)
                engine.fit(list(texts[train]), list(levels[train]), inputs[train])
                predicted[context][test] = engine.predict(list(texts[test]), inputs[test]).best
            predicted["tfidf_lr"][test] = sparse_model().fit(texts[train], levels[train]).predict(texts[test])
            predicted["embedding_lr"][test] = (
                LogisticRegression(max_iter=3000).fit(reply_vectors[train], levels[train]).predict(reply_vectors[test])
            )
            progress.advance(1)
        report["mechanisms"][mechanism] = {
            name: {
                "macro_f1": round(float(f1_score(levels, guess.astype(str), labels=list(LEVELS), average="macro")), 4),
                "per_level_f1": dict(
                    zip(
                        LEVELS,
                        np.round(f1_score(levels, guess.astype(str), labels=list(LEVELS), average=None), 3).tolist(),
                        strict=True,
                    )
                ),
            }
            for name, guess in predicted.items()
        }
    return report
