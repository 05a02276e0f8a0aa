"""Labelling one batch of posts: each post's language decides its route (MiniLM for English, the multilingual
model for the rest), each route embeds and labels its posts. Shared by the local loop (`store`) and the
Ray actors (`ray_engine`), which differ only in where a route's vectors come from."""

from dataclasses import dataclass, fields
from typing import Protocol

import numpy as np
import polars as pl

from stigma_insights.assets.labels.engine import LabelEngine
from stigma_insights.assets.labels.labeller import label_texts
from stigma_insights.assets.labels.language import Language, detect_languages
from stigma_insights.assets.labels.taxonomy import Taxonomy

ENGLISH_ROUTE_LANGUAGES = ("en", "und")  # labelled by MiniLM; every other language by the multilingual model


@dataclass(frozen=True)
class LabelIds:
    """What labelled a post, each a column of labels.post_labels: the embedding model (the cache key's model
    part), the engines (their training set id) and the language detector. A change of any relabels the post."""

    embedding_model: str
    engine_id: str
    language_detector: str

    @property
    def model_name(self) -> str:
        """The three joined, for people: logs, run metadata (the marts join them the same way, in the dbt
        macro `labelling_model_name`)."""
        return f"{self.embedding_model}|engine:{self.engine_id}|language:{self.language_detector}"


LABEL_ID_COLUMNS = tuple(field.name for field in fields(LabelIds))


class LabellingRoute(Protocol):
    @property
    def ids(self) -> LabelIds: ...  # written on each label row

    @property
    def engines(self) -> dict[str, LabelEngine]: ...

    def embed_rows(self, rows: pl.DataFrame) -> np.ndarray:
        """One vector per row (`text`, `text_sha256`), in order."""
        ...


def routes_to_multilingual(language: str) -> bool:
    """English and undetermined posts go to MiniLM; every other language (code-mixed too) to the
    multilingual model, when routing is on."""
    return language not in ENGLISH_ROUTE_LANGUAGES


def label_batch(
    batch: pl.DataFrame, taxonomy: Taxonomy, english: LabellingRoute, other: LabellingRoute | None
) -> tuple[pl.DataFrame, np.ndarray]:
    """Label a non-empty batch of rows (`post_key`, `text`, `text_sha256`, `country_code`): the label frame,
    route by route, and each of its rows' vector. `other` None: routing off, every post goes to `english`."""
    languages = detect_languages(batch["text"].to_list(), batch["country_code"].to_list())
    to_other = [other is not None and routes_to_multilingual(language.code) for language in languages]
    frames, vectors = [], []
    for route, routed in ((english, False), (other, True)):
        positions = [i for i, chosen in enumerate(to_other) if chosen == routed]
        if route is None or not positions:
            continue
        rows = batch[positions]
        embeddings = route.embed_rows(rows)
        labelled = label_texts(rows["text"].to_list(), taxonomy, route.engines, embeddings)
        frames.append(labels_frame(rows, labelled, [languages[i] for i in positions], route.ids))
        vectors.append(embeddings)
    return pl.concat(frames), np.concatenate(vectors)


def labels_frame(batch: pl.DataFrame, labelled: dict, languages: list[Language], ids: LabelIds) -> pl.DataFrame:
    """One row per post: its language, label, calibrated confidence and uncertain flag for each dimension,
    and what labelled it."""
    columns: dict[str, pl.Series] = {
        "post_key": batch["post_key"],
        "text_sha256": batch["text_sha256"],
        "language": pl.Series([language.code for language in languages], dtype=pl.String),
        "language_confidence": pl.Series([language.confidence for language in languages], dtype=pl.Float64),
    }
    for dimension, result in labelled.items():
        columns[dimension] = pl.Series(result.labels, dtype=pl.String)
        columns[f"{dimension}_confidence"] = pl.Series(result.confidences, dtype=pl.Float64)
        columns[f"{dimension}_is_uncertain"] = pl.Series(result.uncertain, dtype=pl.Boolean)
    for name, value in vars(ids).items():
        columns[name] = pl.Series([value] * len(batch), dtype=pl.String)
    return pl.DataFrame(columns)
