"""Train one engine per taxonomy dimension (taxonomy examples + annotations) and label texts with them.

A trained set of engines is kept as an artifact named by its training set's id (a hash of the
taxonomy version and every training text and label), so a nightly run whose annotations did not
change loads it instead of training again; the id is part of the model id on every label row, so a
changed training set relabels every post (from cached embeddings).
"""

import hashlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stigma_insights.assets.labels import engine as engine_module
from stigma_insights.assets.labels import engine_artifact as engine_artifact_module
from stigma_insights.assets.labels.annotations import AnnotatedTexts
from stigma_insights.assets.labels.engine import LabelEngine
from stigma_insights.assets.labels.engine_artifact import dump_engines, load_engines
from stigma_insights.assets.labels.taxonomy import Dimension, Taxonomy
from stigma_insights.atomic_file import write_atomically


def engine_recipe() -> str:
    """What the engines are, derived, never bumped by hand: the source of the modules that train and
    write them and the engine module's settings (its upper-case constants, as they are at run time).
    Any edit there makes a new training set id, so an artifact of older code is never reused."""
    digest = hashlib.sha256()
    for module in (engine_module, engine_artifact_module):
        digest.update(Path(inspect.getfile(module)).read_bytes())
    settings = {name: value for name, value in vars(engine_module).items() if name.isupper()}
    digest.update(repr(sorted(settings.items())).encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class TrainingSet:
    texts: list[str]
    labels: list[str]
    scored: list[bool]  # rows that held-out choices and figures are made on: representative annotations
    description: str

    def __add__(self, other: "TrainingSet") -> "TrainingSet":
        return TrainingSet(
            self.texts + other.texts,
            self.labels + other.labels,
            self.scored + other.scored,
            f"{self.description} + {other.description}",
        )


@dataclass(frozen=True)
class DimensionLabels:
    labels: list[str | None]  # the most probable class; None where the dimension does not apply
    confidences: list[float | None]  # its calibrated probability
    uncertain: list[bool | None]  # below the engine's validated confidence threshold


def taxonomy_training_set(dimension: Dimension, scored: bool = False) -> TrainingSet:
    texts = [t for c in dimension.classes for t in c.training_texts]
    labels = [c.name for c in dimension.classes for _ in c.training_texts]
    return TrainingSet(texts, labels, [scored] * len(texts), f"taxonomy {dimension.name} ({len(texts)} texts)")


def training_sets(taxonomy: Taxonomy, annotations: dict[str, AnnotatedTexts] | None = None) -> dict[str, TrainingSet]:
    """Per dimension: the taxonomy's texts, plus the annotated posts. With no representative
    annotations the engine can only be measured on the taxonomy's own texts, so those are scored."""
    sets = {}
    for dimension in taxonomy.dimensions:
        annotated = (annotations or {}).get(dimension.name)
        if annotated is None or not any(annotated.representative):
            sets[dimension.name] = taxonomy_training_set(dimension, scored=True)
            continue
        sets[dimension.name] = taxonomy_training_set(dimension) + TrainingSet(
            annotated.texts,
            annotated.labels,
            annotated.representative,
            f"{len(annotated.texts)} annotated posts",
        )
    return sets


def training_set_id(taxonomy: Taxonomy, sets: dict[str, TrainingSet], model_id: str, words: bool = True) -> str:
    """The engines' identity: recipe, members, taxonomy, every training text and label, and the embedding
    model (engines trained on one model's vectors never classify another's)."""
    recipe = engine_recipe() if words else f"{engine_recipe()}-embedding-only"
    digest = hashlib.sha256(f"{recipe}\0{model_id}\0{taxonomy.version}\0{taxonomy.dimension_names}".encode())
    for dimension in taxonomy.dimensions:
        digest.update(repr((dimension.cues, dimension.thread_scope)).encode())
        training = sets[dimension.name]
        for text, label, scored in zip(training.texts, training.labels, training.scored, strict=True):
            digest.update(f"\0{dimension.name}\0{label}\0{scored:d}\0{text}".encode())
    return digest.hexdigest()[:12]


def train_engines(
    taxonomy: Taxonomy,
    sets: dict[str, TrainingSet],
    embed_texts: Callable[[list[str]], np.ndarray],
    words: bool = True,
) -> dict[str, LabelEngine]:
    """`embed_texts`: the embedding model the engines read (e.g. MiniLM.embed); `words`: blend the word
    members (cues, TF-IDF) with the embedding one; False: embeddings alone."""
    engines = {}
    for dimension in taxonomy.dimensions:
        training = sets[dimension.name]
        engines[dimension.name] = LabelEngine(cues=dimension.cues, words=words).fit(
            training.texts, training.labels, embed_texts(training.texts), scored=np.asarray(training.scored)
        )
    return engines


def load_or_train_engines(
    taxonomy: Taxonomy,
    sets: dict[str, TrainingSet],
    artifact_folder: Path,
    embed_texts: Callable[[list[str]], np.ndarray],
    model_id: str,
    words: bool = True,
) -> tuple[dict[str, LabelEngine], str, bool]:
    """The engines trained on `embed_texts` vectors (the model `model_id` names), their training set id,
    and whether they came from a kept artifact."""
    identity = training_set_id(taxonomy, sets, model_id, words)
    path = artifact_folder / f"engines-{identity}.json"
    if path.exists():  # JSON, read into trusted estimator types only: loading runs no code (engine_artifact)
        engines, _ = load_engines(path.read_bytes(), f"{path} (delete it to train the engines again)")
        return engines, identity, True
    engines = train_engines(taxonomy, sets, embed_texts, words)
    artifact_folder.mkdir(parents=True, exist_ok=True)
    write_atomically(path, dump_engines(engines))  # a half-written artifact is never loaded
    return engines, identity, False


def label_texts(
    texts: list[str],
    taxonomy: Taxonomy,
    engines: dict[str, LabelEngine],
    embeddings: np.ndarray,
) -> dict[str, DimensionLabels]:
    """Each dimension's labels from `engines`, read on the texts' `embeddings` (from the cache), gated as
    the taxonomy says; a thread-scope dimension is kept for every text (the fact gates it by the text's
    scope: its own relevance, or its thread's)."""
    decided = {name: engine.predict(texts, embeddings) for name, engine in engines.items()}
    result = {}
    for dimension in taxonomy.dimensions:
        decisions = decided[dimension.name]
        applies = np.ones(len(texts), dtype=bool)
        for other, required_label in () if dimension.thread_scope else dimension.applies_when:
            applies &= decided[other].best == required_label
        result[dimension.name] = DimensionLabels(
            labels=[str(v) if a else None for v, a in zip(decisions.best, applies, strict=True)],
            confidences=[float(v) if a else None for v, a in zip(decisions.confidence, applies, strict=True)],
            uncertain=[bool(v) if a else None for v, a in zip(decisions.uncertain, applies, strict=True)],
        )
    return result
