"""Score the labelling engine and both baselines on one train/test split."""

import time
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from assets.labels.datasets import LabelledTexts
from assets.labels.embedding import embed_truncated, embedding_model_id
from assets.labels.engine import LabelEngine, sparse_model
from assets.labels.labeller import taxonomy_training_texts
from assets.labels.prevalence import classify_and_count, pacc
from assets.labels.taxonomy import Dimension


@dataclass(frozen=True)
class TrainingSet:
    texts: list[str]
    labels: list[str]
    description: str


def training_set_from_taxonomy(dimension: Dimension) -> TrainingSet:
    texts, labels = taxonomy_training_texts(dimension)
    return TrainingSet(texts, labels, f"taxonomy dimension {dimension.name} ({len(texts)} texts)")


def training_set_from_file(data: LabelledTexts) -> TrainingSet:
    return TrainingSet(data.texts, data.labels, f"{data.source} ({len(data.texts)} texts)")


def _scores(true: np.ndarray, predicted: np.ndarray) -> dict:
    return {"macro_f1": float(f1_score(true, predicted, average="macro", zero_division=0)),
            "accuracy": float(accuracy_score(true, predicted))}


def evaluate(train: TrainingSet, test: LabelledTexts, fine_tune: bool | None = None) -> dict:
    """`fine_tune`: None decides by training-set size; False scores the frozen-embedding engine that
    labels the warehouse's posts (and so measures the embedding backend's effect)."""
    started = time.perf_counter()
    engine = LabelEngine(fine_tune=fine_tune).fit(train.texts, train.labels)
    probabilities = engine.predict_proba(test.texts)
    trained = time.perf_counter()
    classes = engine.classes_
    decisions = engine.decide(probabilities)
    predicted = decisions.best
    true = np.asarray(test.labels)
    labels = sorted(set(classes) | set(true))

    precision, recall, f1, support = precision_recall_fscore_support(true, predicted, labels=labels, zero_division=0)
    index = {label: i for i, label in enumerate(classes)}
    true_shares = np.array([(true == c).mean() for c in classes])
    cc_shares = classify_and_count(np.array([index[p] for p in predicted]), len(classes))
    adjusted = pacc(probabilities, engine.calibration.rates)

    accepted = ~decisions.uncertain

    baseline_train_labels = np.asarray(train.labels)
    tfidf = sparse_model().fit(train.texts, baseline_train_labels).predict(test.texts)
    embedding_lr = LogisticRegression(max_iter=3000).fit(embed_truncated(train.texts), baseline_train_labels)

    calibration = engine.calibration
    return {
        "model": embedding_model_id(),
        "train": train.description,
        "test": f"{test.source} ({len(test.texts)} texts, {test.dropped_rows} rows without text or label skipped)",
        **_scores(true, predicted),
        "per_class": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, support)
        },
        "confusion_matrix": {"labels": labels, "rows_true_columns_predicted":
                             confusion_matrix(true, predicted, labels=labels).tolist()},
        "prevalence_error": {
            str(c): {"true_share": float(t), "classify_and_count": float(cc), "adjusted": float(a),
                     "error_before": float(abs(cc - t)), "error_after": float(abs(a - t))}
            for c, t, cc, a in zip(classes, true_shares, cc_shares, adjusted)
        },
        "mean_prevalence_error": {"before": float(np.abs(cc_shares - true_shares).mean()),
                                  "after": float(np.abs(adjusted - true_shares).mean())},
        "uncertain": {"threshold": calibration.uncertain_below, "coverage": float(accepted.mean()),
                      "accuracy_when_certain": float((predicted[accepted] == true[accepted]).mean())
                      if accepted.any() else None},
        "engine": {"fine_tuned": calibration.fine_tuned, "sparse_weight": calibration.sparse_weight,
                   "temperature": calibration.temperature, "held_out_macro_f1": calibration.held_out_macro_f1,
                   "held_out_macro_f1_minilm_only": calibration.held_out_macro_f1_minilm,
                   "held_out_macro_f1_tfidf_only": calibration.held_out_macro_f1_tfidf},
        "baselines": {
            "tfidf_lr": _scores(true, tfidf),
            "embedding_lr": _scores(true, embedding_lr.predict(embed_truncated(test.texts))),
        },
        "seconds": {"engine": trained - started, "total": time.perf_counter() - started},
    }


def format_report(report: dict) -> str:
    lines = [
        f"model: {report['model']}",
        f"train: {report['train']}",
        f"test:  {report['test']}",
        f"engine        macro-F1 {report['macro_f1']:.3f}  accuracy {report['accuracy']:.3f}"
        f"  ({'fine-tuned' if report['engine']['fine_tuned'] else 'frozen'} MiniLM, TF-IDF weight"
        f" {report['engine']['sparse_weight']:.2f}, held-out macro-F1 {report['engine']['held_out_macro_f1']:.3f})",
    ]
    for name, scores in report["baselines"].items():
        lines.append(f"{name:13s} macro-F1 {scores['macro_f1']:.3f}  accuracy {scores['accuracy']:.3f}")
    uncertain = report["uncertain"]
    lines.append(f"uncertain below {uncertain['threshold']:.2f}: coverage {uncertain['coverage']:.3f},"
                 f" accuracy when certain {uncertain['accuracy_when_certain'] or 0:.3f}")
    lines += ["", f"{'class':>20s} {'prec':>6s} {'recall':>6s} {'f1':>6s} {'n':>5s}"]
    for label, s in report["per_class"].items():
        lines.append(f"{label:>20s} {s['precision']:6.3f} {s['recall']:6.3f} {s['f1']:6.3f} {s['support']:5d}")
    matrix = report["confusion_matrix"]
    lines += ["", "confusion matrix (rows true, columns predicted): " + " ".join(matrix["labels"])]
    for label, row in zip(matrix["labels"], matrix["rows_true_columns_predicted"]):
        lines.append(f"{label:>20s} " + " ".join(f"{v:5d}" for v in row))
    lines += ["", f"{'class':>20s} {'true':>6s} {'CC':>6s} {'PACC':>6s} {'err CC':>7s} {'err PACC':>8s}"]
    for label, p in report["prevalence_error"].items():
        lines.append(f"{label:>20s} {p['true_share']:6.3f} {p['classify_and_count']:6.3f} {p['adjusted']:6.3f}"
                     f" {p['error_before']:7.3f} {p['error_after']:8.3f}")
    mean = report["mean_prevalence_error"]
    lines.append(f"mean prevalence error: {mean['before']:.3f} before adjustment, {mean['after']:.3f} after")
    lines.append(f"time: {report['seconds']['total']:.0f} s ({report['seconds']['engine']:.0f} s training the engine)")
    return "\n".join(lines)
