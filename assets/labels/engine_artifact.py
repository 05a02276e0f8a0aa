"""Trained engines as plain JSON: arrays, numbers and strings, nothing that runs code when read.

A pickle executes whatever it was made to when loaded, so a models folder shared between people (or
an artifact shipped in the repository) would be a way in. An engine is written as what its members
learnt (each estimator's constructor parameters and fitted arrays) and read back only into the
estimator types listed in TRUSTED_ESTIMATORS; a file naming another type, or missing a field, is
refused with `ArtifactError`.
"""

import base64
import json
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from stigma_insights.assets.labels.engine import Calibration, CueCounts, FrozenEmbeddingClassifier, LabelEngine

FORMAT = "stigma-insights-engine/1"

# Per trusted estimator: the fitted attributes that make it predict (restored as arrays, or as the
# vocabulary's term -> column mapping).
TRUSTED_ESTIMATORS: dict[str, tuple[type, tuple[str, ...]]] = {
    "LogisticRegression": (LogisticRegression, ("classes_", "coef_", "intercept_", "n_features_in_")),
    "TfidfVectorizer": (TfidfVectorizer, ("vocabulary_", "idf_")),
    "StandardScaler": (StandardScaler, ("mean_", "scale_", "var_", "n_features_in_", "n_samples_seen_")),
    "CueCounts": (CueCounts, ()),
}

ARRAY_TYPES = ("float64", "float32", "int64", "int32", "bool")


class ArtifactError(ValueError):
    """An engine artifact that is not one this code wrote: refused, never half-read."""


def _plain(value: Any) -> Any:
    if isinstance(value, type) and issubclass(value, np.generic):  # TfidfVectorizer's dtype parameter
        return {"numpy_type": value.__name__}
    if isinstance(value, np.ndarray) and value.dtype.name in ARRAY_TYPES:  # exact and compact: raw bytes
        data = base64.b64encode(np.ascontiguousarray(value, value.dtype.newbyteorder("<")).tobytes()).decode()
        return {"array_base64": data, "dtype": value.dtype.name, "shape": list(value.shape)}
    if isinstance(value, np.ndarray):
        return {"array": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _restored(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"numpy_type"}:
        if value["numpy_type"] not in ARRAY_TYPES:
            raise ArtifactError(f"type {value['numpy_type']!r} is not one an engine holds")
        return getattr(np, value["numpy_type"])
    if isinstance(value, dict) and set(value) == {"array_base64", "dtype", "shape"}:
        if value["dtype"] not in ARRAY_TYPES:
            raise ArtifactError(f"array of type {value['dtype']!r} is not one an engine holds")
        raw = np.frombuffer(base64.b64decode(value["array_base64"]), np.dtype(value["dtype"]).newbyteorder("<"))
        return raw.astype(value["dtype"]).reshape(value["shape"])
    if isinstance(value, dict) and set(value) == {"array", "dtype"}:
        if value["dtype"] not in ARRAY_TYPES and not value["dtype"].startswith("<U"):  # <U: class names
            raise ArtifactError(f"array of type {value['dtype']!r} is not one an engine holds")
        return np.asarray(value["array"], dtype=value["dtype"])
    return value


def _estimator_to_dict(estimator) -> dict:
    name = type(estimator).__name__
    if name not in TRUSTED_ESTIMATORS:
        raise TypeError(f"{name} is not a trusted estimator: add it to TRUSTED_ESTIMATORS")
    _, fitted = TRUSTED_ESTIMATORS[name]
    return {
        "type": name,
        "params": _plain(estimator.get_params(deep=False)),
        "fitted": {attribute: _plain(getattr(estimator, attribute)) for attribute in fitted},
    }


def _estimator_from_dict(saved: dict):
    kind, fitted = TRUSTED_ESTIMATORS.get(saved["type"], (None, ()))
    if kind is None:
        raise ArtifactError(f"estimator type {saved['type']!r} is not trusted")
    params = {k: tuple(v) if isinstance(v, list) else _restored(v) for k, v in saved["params"].items()}
    estimator = kind(**params)
    # idf_ last: TfidfVectorizer's setter for it needs the vocabulary in place first.
    for attribute in sorted(fitted, key=lambda name: name == "idf_"):
        setattr(estimator, attribute, _restored(saved["fitted"][attribute]))
    return estimator


def _model_to_dict(model) -> list[dict]:
    steps = model.steps if isinstance(model, Pipeline) else [("model", model)]
    return [{"step": name, **_estimator_to_dict(estimator)} for name, estimator in steps]


def _model_from_dict(steps: list[dict]):
    estimators = [(step["step"], _estimator_from_dict(step)) for step in steps]
    return estimators[0][1] if len(estimators) == 1 else Pipeline(estimators)


def engine_to_dict(engine: LabelEngine) -> dict:
    if engine.fine_tune:
        raise TypeError("a fine-tuned engine holds a torch model: it is not written as an artifact")
    calibration = engine.calibration
    return {
        "format": FORMAT,
        "cues": list(engine.cues),
        "words": engine.words,
        "min_df": engine.min_df,
        "folds": engine.folds,
        "seed": engine.seed,
        "classes": engine.classes_.tolist(),
        "calibration": {field: _plain(getattr(calibration, field)) for field in Calibration.__dataclass_fields__},
        "members": {
            "minilm": _model_to_dict(engine._minilm._model),
            **{name: _model_to_dict(model) for name, model in engine._others.items()},
        },
    }


def engine_from_dict(saved: dict) -> LabelEngine:
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise ArtifactError(f"not an engine artifact of format {FORMAT}")
    try:
        engine = LabelEngine(
            cues=tuple(saved["cues"]),
            words=saved["words"],
            min_df=saved["min_df"],
            folds=saved["folds"],
            seed=saved["seed"],
        )
        engine.classes_ = np.asarray(saved["classes"])
        engine.calibration = Calibration(**{field: _restored(value) for field, value in saved["calibration"].items()})
        members = saved["members"]
        engine._minilm = FrozenEmbeddingClassifier()
        engine._minilm._model = _model_from_dict(members["minilm"])
        engine._others = {name: _model_from_dict(steps) for name, steps in members.items() if name != "minilm"}
    except (KeyError, TypeError) as error:
        raise ArtifactError(f"engine artifact is incomplete or malformed: {error!r}") from error
    return engine


def dump_engines(engines: dict[str, LabelEngine], extra: dict | None = None) -> bytes:
    return json.dumps({"engines": {n: engine_to_dict(e) for n, e in engines.items()}, **(extra or {})}).encode()


def load_engines(data: bytes, source: str) -> tuple[dict[str, LabelEngine], dict]:
    """The engines in an artifact, and its other top-level fields; `source` names it in errors."""
    try:
        saved = json.loads(data)
        engines = {name: engine_from_dict(entry) for name, entry in saved.pop("engines").items()}
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, AttributeError, ArtifactError) as error:
        raise ArtifactError(f"{source}: refused, not an engine artifact this code wrote ({error})") from error
    return engines, saved
