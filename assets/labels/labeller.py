"""Label texts on every taxonomy dimension: one embedding pass, one engine per dimension."""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from assets.labels.embedding import embed
from assets.labels.engine import LabelEngine
from assets.labels.taxonomy import Dimension, Taxonomy


@dataclass(frozen=True)
class DimensionLabels:
    labels: list[str | None]  # the most probable class; None where the dimension does not apply
    confidences: list[float | None]  # its calibrated probability
    uncertain: list[bool | None]  # below the engine's validated confidence threshold


def taxonomy_training_texts(dimension: Dimension) -> tuple[list[str], list[str]]:
    texts = [t for c in dimension.classes for t in c.training_texts]
    labels = [c.name for c in dimension.classes for _ in c.training_texts]
    return texts, labels


def train_from_taxonomy(
    taxonomy: Taxonomy, embed_texts: Callable[[list[str]], np.ndarray] = embed
) -> dict[str, LabelEngine]:
    engines = {}
    for dimension in taxonomy.dimensions:
        texts, labels = taxonomy_training_texts(dimension)
        engines[dimension.name] = LabelEngine(fine_tune=False).fit(texts, labels, embed_texts(texts))
    return engines


def label_texts(
    texts: list[str],
    taxonomy: Taxonomy,
    engines: dict[str, LabelEngine] | None = None,
    embeddings: np.ndarray | None = None,
) -> dict[str, DimensionLabels]:
    """`embeddings`: the texts' embeddings when the caller has them (from the cache)."""
    engines = engines or train_from_taxonomy(taxonomy)
    embeddings = embed(texts) if embeddings is None else embeddings
    decided = {name: engine.predict(texts, embeddings) for name, engine in engines.items()}
    result = {}
    for dimension in taxonomy.dimensions:
        decisions = decided[dimension.name]
        applies = np.ones(len(texts), dtype=bool)
        for other, required_label in dimension.applies_when:
            applies &= decided[other].best == required_label
        result[dimension.name] = DimensionLabels(
            labels=[str(v) if a else None for v, a in zip(decisions.best, applies)],
            confidences=[float(v) if a else None for v, a in zip(decisions.confidence, applies)],
            uncertain=[bool(v) if a else None for v, a in zip(decisions.uncertain, applies)],
        )
    return result
