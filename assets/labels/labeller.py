"""Label texts on every taxonomy dimension from one embedding pass."""

from dataclasses import dataclass

import numpy as np

from assets.labels.classifier import CentroidClassifier
from assets.labels.embedding import embed
from assets.labels.taxonomy import Taxonomy


@dataclass(frozen=True)
class DimensionLabels:
    labels: list[str | None]
    confidences: list[float | None]


def train_from_taxonomy(taxonomy: Taxonomy) -> dict[str, CentroidClassifier]:
    classifiers = {}
    for dimension in taxonomy.dimensions:
        texts = [t for c in dimension.classes for t in c.training_texts]
        labels = [c.name for c in dimension.classes for _ in c.training_texts]
        classifiers[dimension.name] = CentroidClassifier().fit(embed(texts), labels)
    return classifiers


def label_texts(texts: list[str], taxonomy: Taxonomy) -> dict[str, DimensionLabels]:
    """Label and confidence per dimension; None where a dimension does not apply to the text."""
    classifiers = train_from_taxonomy(taxonomy)
    embeddings = embed(texts)
    predicted: dict[str, tuple[np.ndarray, np.ndarray]] = {
        name: classifier.predict(embeddings) for name, classifier in classifiers.items()
    }
    result = {}
    for dimension in taxonomy.dimensions:
        labels, confidences = predicted[dimension.name]
        applies = np.ones(len(texts), dtype=bool)
        for other, required_label in dimension.applies_when:
            applies &= predicted[other][0] == required_label
        result[dimension.name] = DimensionLabels(
            labels=[str(l) if a else None for l, a in zip(labels, applies)],
            confidences=[float(c) if a else None for c, a in zip(confidences, applies)],
        )
    return result
