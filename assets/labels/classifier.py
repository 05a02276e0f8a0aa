"""Few-shot classification on frozen sentence embeddings."""

import numpy as np


class CentroidClassifier:
    """Nearest class centroid by cosine similarity, with a softmax over similarities as confidence.

    Each class's centroid is the normalised mean of its training embeddings (the taxonomy's
    description and examples). The temperature turns cosine gaps of a few hundredths, typical for
    MiniLM, into usable confidences.
    """

    def __init__(self, temperature: float = 0.05):
        self.temperature = temperature
        self.classes_: np.ndarray | None = None
        self.centroids_: np.ndarray | None = None

    def fit(self, embeddings: np.ndarray, labels: list[str]) -> "CentroidClassifier":
        labels_array = np.asarray(labels)
        self.classes_ = np.unique(labels_array)
        centroids = np.stack([embeddings[labels_array == c].mean(axis=0) for c in self.classes_])
        self.centroids_ = centroids / np.linalg.norm(centroids, axis=1, keepdims=True)
        return self

    def predict_proba(self, embeddings: np.ndarray) -> np.ndarray:
        scores = embeddings @ self.centroids_.T / self.temperature
        scores -= scores.max(axis=1, keepdims=True)
        weights = np.exp(scores)
        return weights / weights.sum(axis=1, keepdims=True)

    def predict(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Labels and their confidences."""
        probabilities = self.predict_proba(embeddings)
        best = probabilities.argmax(axis=1)
        return self.classes_[best], probabilities[np.arange(len(best)), best]
