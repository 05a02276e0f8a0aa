"""Themes among posts: clusters of their cached embeddings, each described by its size and keywords.

- Clusters: the embeddings reduced to 10 dimensions by PCA (fixed seed), HDBSCAN with leaf selection
  (finer, more even themes than excess of mass on real posts; smallest theme: 1% of the posts, at
  least 3), then each post HDBSCAN left out joins the theme whose
  centroid is nearest when their cosine is at least 0.4; the rest stay outliers, counted (-1), never
  hidden. The same posts give the same themes whatever their order (bench/themes.py measures it).
- Scale: HDBSCAN's time grows with the square of the posts (44 s for 100k here, over an hour for 1M),
  so past FIT_POSTS the themes are found on that many posts, chosen by a hash of their text (the same
  posts whatever their order), and every other post takes its theme by the same nearest-centroid rule.
- Keywords: class-based TF-IDF (each theme's texts counted as one document; a word weighs its frequency in the
  theme times log(1 + average words per theme / its frequency over all themes)), without the function
  words of the languages of the study's communities (stop_words.yaml and scikit-learn's English list).
- Stable ids: `match_previous` gives a theme the id of the previous run's theme whose centroid it
  matches (cosine >= 0.8, one to one), so trend lines follow a theme across nightly runs.
"""

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import yaml
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import HDBSCAN
from sklearn.decomposition import PCA
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

STOP_WORDS_FILE = Path(__file__).with_name("stop_words.yaml")
_WORD = re.compile(r"[^\s\d!-/:-@\[-`{-~।॥…“”‘’«»¿¡]{2,}")
OUTLIER = -1
DIMENSIONS = 10
MIN_THEME_SHARE = 0.01
MIN_THEME_SIZE = 3
JOIN_COSINE = 0.4  # an outlier this close to a theme's centroid joins it
SAME_THEME_COSINE = 0.8  # a theme this close to a previous run's keeps its id
KEYWORDS = 8
FIT_POSTS = 20_000  # HDBSCAN on more takes minutes (quadratic); 20k: about 2 s here
SEED = 0


@dataclass(frozen=True)
class Themes:
    assignment: np.ndarray  # theme per post (0..k-1), OUTLIER for none
    centroids: np.ndarray  # (k, dim), unit length
    keywords: list[list[str]]
    sizes: list[int]

    @property
    def outlier_share(self) -> float:
        return float((self.assignment == OUTLIER).mean()) if len(self.assignment) else 0.0


def words_of(text: str) -> list[str]:
    """Words of two characters or more, in any script (Devanagari's vowel signs are not `\\w`)."""
    return _WORD.findall(text)


@cache
def stop_words() -> frozenset[str]:
    lists = yaml.safe_load(STOP_WORDS_FILE.read_text(encoding="utf-8"))
    words = {word for name, text in lists.items() if name != "version" for word in str(text).split()}
    return frozenset(words) | ENGLISH_STOP_WORDS


def _centroids(embeddings: np.ndarray, assignment: np.ndarray, count: int) -> np.ndarray:
    centroids = np.stack([embeddings[assignment == theme].mean(axis=0) for theme in range(count)])
    return centroids / np.linalg.norm(centroids, axis=1, keepdims=True)


def text_digests(texts: list[str]) -> np.ndarray:
    """A 64-bit hash of each text (blake2b): the fitting sample is drawn in their order."""
    return np.frombuffer(b"".join(hashlib.blake2b(text.encode(), digest_size=8).digest() for text in texts), ">u8")


def fitting_posts(digests: np.ndarray, fit_posts: int = FIT_POSTS) -> np.ndarray:
    """The posts the clusters are found on: all of them, or past `fit_posts` those first by text digest."""
    if len(digests) <= fit_posts:
        return np.arange(len(digests))
    return np.sort(np.argsort(digests, kind="stable")[:fit_posts])


def cluster(embeddings: np.ndarray, fitted: np.ndarray | None = None) -> np.ndarray:
    """Theme per post (OUTLIER for none): PCA and HDBSCAN on the `fitted` posts (default: all), then
    the near outliers, and every post not fitted, joined to the theme of the nearest centroid."""
    fitted = np.arange(len(embeddings)) if fitted is None else fitted
    assignment = np.full(len(embeddings), OUTLIER)
    if len(fitted) < 2 * MIN_THEME_SIZE:
        return assignment
    sample = embeddings[fitted]
    reduced = PCA(n_components=min(DIMENSIONS, len(sample) - 1), random_state=SEED).fit_transform(sample)
    size = max(MIN_THEME_SIZE, int(len(sample) * MIN_THEME_SHARE))
    found = HDBSCAN(min_cluster_size=size, min_samples=1, cluster_selection_method="leaf", copy=True)
    assignment[fitted] = found.fit_predict(reduced)
    count = theme_count(assignment)
    if count == 0:
        return assignment
    similarity = embeddings @ _centroids(sample, assignment[fitted], count).T
    joins = (assignment == OUTLIER) & (similarity.max(axis=1) >= JOIN_COSINE)
    assignment[joins] = similarity.argmax(axis=1)[joins]
    return assignment


class ThemeWords:
    """Each theme's word counts, added a batch of texts at a time: a theme's texts are never held at once."""

    def __init__(self, count: int):
        self.counts: list[Counter[str]] = [Counter() for _ in range(count)]

    def add(self, texts: list[str], assignment: np.ndarray) -> None:
        for text, theme in zip(texts, assignment.tolist(), strict=True):
            if theme != OUTLIER:
                self.counts[theme].update(words_of(text.lower()))

    def keywords(self, top: int = KEYWORDS) -> list[list[str]]:
        """The top words of each theme by class-based TF-IDF (function words left out)."""
        skipped = stop_words()
        words = sorted({word for counts in self.counts for word in counts if word not in skipped})
        if not words:
            return [[] for _ in self.counts]
        column = {word: i for i, word in enumerate(words)}
        counts = np.zeros((len(self.counts), len(words)))
        for row, theme_counts in zip(counts, self.counts, strict=True):
            kept = [(column[word], n) for word, n in theme_counts.items() if word not in skipped]
            if kept:
                positions, values = zip(*kept, strict=True)
                row[list(positions)] = values
        frequency = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        weights = frequency * np.log1p(counts.sum(axis=1).mean() / np.maximum(counts.sum(axis=0), 1))
        return [[words[i] for i in np.argsort(-row)[:top] if row[i] > 0] for row in weights]


def theme_count(assignment: np.ndarray) -> int:
    return int(assignment.max()) + 1 if len(assignment) else 0


def themes_of(embeddings: np.ndarray, assignment: np.ndarray, keywords: list[list[str]]) -> Themes:
    """The themes of posts clustered by `cluster`, with each theme's keywords."""
    count = len(keywords)
    centroids = _centroids(embeddings, assignment, count) if count else np.zeros((0, embeddings.shape[1]))
    sizes = np.bincount(assignment[assignment != OUTLIER], minlength=count).tolist()
    return Themes(assignment=assignment, centroids=centroids, keywords=keywords, sizes=sizes)


def find_themes(texts: list[str], embeddings: np.ndarray, fit_posts: int = FIT_POSTS) -> Themes:
    assignment = cluster(embeddings, fitting_posts(text_digests(texts), fit_posts))
    words = ThemeWords(theme_count(assignment))
    words.add(texts, assignment)
    return themes_of(embeddings, assignment, words.keywords())


def match_previous(themes: Themes, previous_ids: list[int], previous_centroids: np.ndarray, next_id: int) -> list[int]:
    """A stable id per theme: the previous run's id where the centroids match one to one, else a new id
    from `next_id` on (ids stay unique across the groups a caller themes)."""
    ids = [OUTLIER] * len(themes.sizes)
    if len(previous_ids) and len(themes.sizes):
        similarity = themes.centroids @ previous_centroids.T
        for new, old in zip(*linear_sum_assignment(-similarity), strict=True):
            if similarity[new, old] >= SAME_THEME_COSINE:
                ids[new] = previous_ids[old]
    for theme, theme_id in enumerate(ids):
        if theme_id == OUTLIER:
            ids[theme], next_id = next_id, next_id + 1
    return ids
