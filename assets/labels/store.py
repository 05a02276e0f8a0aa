"""Label the warehouse's posts incrementally: only posts whose text, model or taxonomy is new.

A post keeps its label row while its text (by hash), the model of its route (embedding model, the
engines' training set: taxonomy examples plus annotations, and the language detector) and the taxonomy
version are unchanged, so a nightly run labels what arrived since the last one. Posts in English go to
MiniLM, the others to the multilingual model (`Route`). Posts are labelled in batches, each committed in
one transaction with the embeddings it cached: memory stays bounded and a killed run keeps its finished
batches; the next run carries on where it stopped. With `STIGMA_INSIGHTS_LABELS_ENGINE=ray` the batches are
Ray actors' (`ray_engine`) and the whole job commits at once.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from stigma_insights.assets.labels.annotations import LABELLABLE_POSTS, annotated_texts
from stigma_insights.assets.labels.embedding import MiniLM
from stigma_insights.assets.labels.embedding_cache import EmbeddingCache, cache_vectors_of
from stigma_insights.assets.labels.engine import LabelEngine
from stigma_insights.assets.labels.labeller import (
    DimensionLabels,
    load_or_train_engines,
    training_set_id,
    training_sets,
)
from stigma_insights.assets.labels.language import language_detector_id
from stigma_insights.assets.labels.multilingual import embed_multilingual, multilingual_model_id
from stigma_insights.assets.labels.ray_engine import RouteOnRay, labelled_on_ray
from stigma_insights.assets.labels.routes import (
    ENGLISH_ROUTE_LANGUAGES,
    LABEL_ID_COLUMNS,
    LabelIds,
    label_batch,
    labels_frame,
)
from stigma_insights.assets.labels.taxonomy import Taxonomy
from stigma_insights.crash_points import LABELS_BATCH_COMMITTED, crash_point
from stigma_insights.registered import registered, replace_table
from stigma_insights.settings import EmbeddingSettings

POST_LABELS_TABLE = "labels.post_labels"
ERROR_RATES_TABLE = "labels.label_error_rates"
LABEL_CLASSES_TABLE = "labels.label_classes"
BATCH_SIZE = 4096
# Hashed once per run into a temp table; the stale-label delete, the to-do list and the counts read it.
LABELLABLE_POSTS_SQL = f"""
    select post_key, sha256(text) as text_sha256
    from intermediate.int_posts_deduplicated
    where {LABELLABLE_POSTS}
"""


@dataclass(frozen=True)
class LabellingSummary:
    labelled: int  # posts labelled in this run
    kept: int  # posts whose labels were still valid
    removed: int  # label rows of posts no longer labellable (deleted, removed, emptied)
    embeddings_computed: int
    embeddings_from_cache: int
    model_id: str  # model|backend|pooling|engine:<training set id>|language:<detector>, of the English route
    engine_reused: bool  # the engines came from the artifact of an earlier run with the same training set
    engines: dict[str, LabelEngine]  # the English route's (their error rates adjust the shares)
    labelled_by_route: dict[str, int]  # model id -> posts it labelled this run


@dataclass
class Route:
    """An embedding model and the engines trained on the same training set embedded by that model (the
    taxonomy's examples must be embedded like the posts they classify). Trained on first use."""

    conn: duckdb.DuckDBPyConnection
    embedding_model_id: str
    embed_texts: Callable[[list[str]], np.ndarray]
    training: dict
    taxonomy: Taxonomy
    engines_folder: Path
    words: bool  # the word members (English cues, TF-IDF) beside the embeddings
    reused: bool = False  # the engines came from a kept artifact

    @cached_property
    def ids(self) -> LabelIds:
        engines = training_set_id(self.taxonomy, self.training, self.embedding_model_id, self.words)
        return LabelIds(self.embedding_model_id, engines, language_detector_id())

    @cached_property
    def cache(self) -> EmbeddingCache:
        return EmbeddingCache(self.conn, self.embedding_model_id, self.embed_texts)

    @cached_property
    def engines(self) -> dict[str, LabelEngine]:
        engines, _, self.reused = load_or_train_engines(
            self.taxonomy, self.training, self.engines_folder, self.cache.embed, self.embedding_model_id, self.words
        )
        return engines

    def embed_rows(self, rows: pl.DataFrame) -> np.ndarray:
        return self.cache.embed(rows["text"].to_list(), rows["text_sha256"].to_list())

    def on_ray(self, cached_column: str) -> RouteOnRay:
        return RouteOnRay(self.ids, self.embed_texts, self.engines, cached_column)


def label_new_posts(
    conn: duckdb.DuckDBPyConnection,
    taxonomy: Taxonomy,
    engines_folder: Path,
    minilm: MiniLM,
    relabel_all: bool = False,
    batch_size: int = BATCH_SIZE,
    log: Callable[[str], None] = print,
) -> LabellingSummary:
    """Label the posts that need it with `minilm` (its settings also say whether posts not in English go to
    the multilingual model, and whether Ray labels them)."""
    settings = minilm.settings
    multilingual = settings.multilingual == "non-english"
    annotations = {d: annotated_texts(conn, d) for d in taxonomy.dimension_names}
    training = training_sets(taxonomy, annotations)
    english = Route(conn, minilm.model_id, minilm.embed, training, taxonomy, engines_folder, words=True)
    other = Route(conn, multilingual_model_id(), embed_multilingual, training, taxonomy, engines_folder, words=False)
    engines = english.engines
    log(f"Engines {english.ids.model_name} " + ("loaded from their artifact" if english.reused else "trained"))
    provenance = {"model_name": english.ids.model_name, "taxonomy_version": taxonomy.version}
    provenance_columns = {name: pl.lit(value) for name, value in provenance.items()}
    stamp = {"labelled_at": datetime.now(UTC), "taxonomy_version": taxonomy.version}
    conn.execute(f"create or replace temp table labellable_posts as {LABELLABLE_POSTS_SQL}")
    conn.begin()
    removed = _forget_stale_labels(conn, english.ids, other.ids if multilingual else None, taxonomy, relabel_all)
    if not _label_columns(conn):  # the table exists from the first run on, even with nothing to label
        no_posts = pl.DataFrame(schema={"post_key": pl.String, "text_sha256": pl.String})
        no_labels = {dimension.name: DimensionLabels([], [], []) for dimension in taxonomy.dimensions}
        _insert_labels(conn, labels_frame(no_posts, no_labels, [], english.ids), stamp)
    measured_on = {d: "annotations" if any(a.representative) else "taxonomy examples" for d, a in annotations.items()}
    replace_table(
        conn, ERROR_RATES_TABLE, error_rates(engines, measured_on).with_columns(**provenance_columns).to_arrow()
    )
    replace_table(conn, LABEL_CLASSES_TABLE, label_classes(taxonomy).to_arrow())
    conn.commit()
    conn.execute(
        f"""create or replace temp table posts_to_label as
            select row_number() over (order by post_key) as position, post_key, posts.text, text_sha256,
                   posts.country_code
            from labellable_posts
            join intermediate.int_posts_deduplicated as posts using (post_key)
            anti join {POST_LABELS_TABLE} using (post_key)"""
    )
    [(to_label,)] = conn.execute("select count(*) from posts_to_label").fetchall()
    [(labellable,)] = conn.execute("select count(*) from labellable_posts").fetchall()
    log(f"Labelling {to_label} of {labellable} labellable posts (taxonomy {taxonomy.version})")
    routes = (english, other if multilingual else None)
    if settings.labels_engine == "ray" and to_label > 0:
        labelled_by_route, ray_computed, ray_hits = _label_on_ray(conn, taxonomy, *routes, settings, stamp, log)
    else:
        labelled_by_route, ray_computed, ray_hits = _label_here(conn, taxonomy, *routes, batch_size, stamp, log), 0, 0
    conn.execute("drop table posts_to_label")
    conn.execute("drop table labellable_posts")
    caches = [
        route.cache for route in (english, other) if route is english or route.ids.model_name in labelled_by_route
    ]
    return LabellingSummary(
        labelled=to_label,
        kept=labellable - to_label,
        removed=removed,
        embeddings_computed=ray_computed + sum(cache.computed for cache in caches),
        embeddings_from_cache=ray_hits + sum(cache.hits for cache in caches),
        model_id=english.ids.model_name,
        engine_reused=english.reused,
        engines=engines,
        labelled_by_route=labelled_by_route,
    )


def _label_here(
    conn, taxonomy: Taxonomy, english: Route, other: Route | None, batch_size: int, stamp: dict, log
) -> dict[str, int]:
    """Label `posts_to_label` in this process, batch by batch, each committed with the vectors it cached;
    returns the posts each route's model labelled."""
    labelled_by_route: dict[str, int] = {}
    [(to_label,)] = conn.execute("select count(*) from posts_to_label").fetchall()
    started = time.perf_counter()
    for start in range(0, to_label, batch_size):
        batch = conn.execute(
            "select post_key, text, text_sha256, country_code from posts_to_label where position > ? and position <= ?"
            " order by position",
            [start, start + batch_size],
        ).pl()
        conn.begin()
        labels, _ = label_batch(batch, taxonomy, english, other)
        _insert_labels(conn, labels, stamp)
        conn.commit()
        for *ids, count in labels.group_by(LABEL_ID_COLUMNS).len().iter_rows():
            model = LabelIds(*ids).model_name
            labelled_by_route[model] = labelled_by_route.get(model, 0) + count
        crash_point(LABELS_BATCH_COMMITTED)
        done, elapsed = min(start + batch_size, to_label), time.perf_counter() - started
        log(
            f"  labelled {done} of {to_label} ({done / elapsed:.0f} posts/s,"
            f" about {(to_label - done) * elapsed / done:.0f} s to go)"
        )
    return labelled_by_route


def _label_on_ray(
    conn, taxonomy: Taxonomy, english: Route, other: Route | None, settings: EmbeddingSettings, stamp: dict, log
) -> tuple[dict[str, int], int, int]:
    """Label `posts_to_label` on Ray and commit the actors' label files, with the vectors they computed, in one
    transaction (a run stopped before leaves nothing: the next one labels the same posts again). Returns the
    posts each route's model labelled, the vectors stored and the posts whose vector was cached."""
    english_on_ray = english.on_ray("cached_minilm")
    other_on_ray = other.on_ray("cached_multilingual") if other else None
    staging = settings.ray_staging or "this machine's temporary folder"
    log(f"  on Ray ({settings.ray_address or 'a local Ray'}), files staged in {staging}")
    with (
        labelled_on_ray(
            conn, "posts_to_label", taxonomy, english_on_ray, other_on_ray, settings.ray_address, settings.ray_staging
        ) as label_files,
        registered(conn, "label_files", label_files),
    ):
        conn.begin()
        conn.execute(
            f"""insert into {POST_LABELS_TABLE} by name
                select * exclude (embedding), ? as labelled_at, ? as taxonomy_version
                from label_files""",
            [stamp["labelled_at"], stamp["taxonomy_version"]],
        )
        stored, cached = cache_vectors_of(conn, "label_files")
        by_ids = f"select {', '.join(LABEL_ID_COLUMNS)}, count(*) from label_files group by all"
        labelled_by_route = {LabelIds(*ids).model_name: count for *ids, count in conn.execute(by_ids).fetchall()}
        conn.commit()
    log(f"  labelled {sum(labelled_by_route.values())} on Ray, {stored} new vectors cached")
    return labelled_by_route, stored, cached


def _forget_stale_labels(
    conn, english: LabelIds, multilingual: LabelIds | None, taxonomy: Taxonomy, relabel_all: bool
) -> int:
    """Delete label rows that no longer hold: post gone from the labellable set, text, taxonomy or what labels
    its route changed (`multilingual` None: routing off, every post goes to MiniLM)."""
    columns = _label_columns(conn)
    if not {"text_sha256", "language", *LABEL_ID_COLUMNS} <= set(columns):  # no table, or an older layout
        conn.execute(f"drop table if exists {POST_LABELS_TABLE}")
        return 0
    english_languages = ", ".join(f"'{code}'" for code in ENGLISH_ROUTE_LANGUAGES)
    routed = f"$routed and language not in ({english_languages})"
    changed = " or ".join(
        f"{column} is distinct from (case when {routed} then ${column}_routed else ${column} end)"
        for column in LABEL_ID_COLUMNS
    )
    ids = vars(english) | {f"{column}_routed": value for column, value in vars(multilingual or english).items()}
    (removed,) = conn.execute(
        f"""delete from {POST_LABELS_TABLE} l
            where $relabel_all or taxonomy_version is distinct from $taxonomy_version or {changed}
               or not exists (select 1 from labellable_posts p
                              where p.post_key = l.post_key and p.text_sha256 = l.text_sha256)""",
        {"relabel_all": relabel_all, "taxonomy_version": taxonomy.version, "routed": multilingual is not None, **ids},
    ).fetchone()
    return removed


def _insert_labels(conn, labels: pl.DataFrame, stamp: dict) -> None:
    """Append a batch with the run's `stamp` (`labelled_at`, `taxonomy_version`); the table is (re)created when
    the taxonomy's dimensions change its columns."""
    labels = labels.with_columns(**{name: pl.lit(value) for name, value in stamp.items()})
    if _label_columns(conn) != labels.columns:
        replace_table(conn, POST_LABELS_TABLE, labels.to_arrow())
    else:
        with registered(conn, "new_post_labels", labels.to_arrow()):
            conn.execute(f"insert into {POST_LABELS_TABLE} select * from new_post_labels")


def _label_columns(conn) -> list[str]:
    return [
        name
        for (name,) in conn.execute(
            "select column_name from duckdb_columns() where schema_name = 'labels' and table_name = 'post_labels'"
            " order by column_index"
        ).fetchall()
    ]


def error_rates(engines: dict[str, LabelEngine], measured_on: dict[str, str]) -> pl.DataFrame:
    """Per dimension, how many held-out items of each class were labelled as each class: cross-fitted
    on the representative annotations (or on the taxonomy's texts when there are none)."""
    rows = [
        {
            "dimension": name,
            "measured_on": measured_on[name],
            "true_label": str(true),
            "predicted_label": str(predicted),
            "n_items": int(engine.calibration.hard_counts[i, j]),
            "n_true": int(engine.calibration.hard_counts[i].sum()),
            "rate": float(engine.calibration.hard_rates[i, j]),
        }
        for name, engine in engines.items()
        for i, true in enumerate(engine.classes_)
        for j, predicted in enumerate(engine.classes_)
    ]
    return pl.DataFrame(rows)


def label_classes(taxonomy: Taxonomy) -> pl.DataFrame:
    """The taxonomy as a table, for dbt: which label columns the fact table gets, which values are valid,
    and which posts each dimension counts (those where the gating dimension has the gating label, and for a
    thread-scope dimension also the replies in a stigma-related thread)."""
    rows = []
    for dimension_position, dimension in enumerate(taxonomy.dimensions):
        # At most one condition (the taxonomy loader refuses more).
        gate_dimension, gate_label = dimension.applies_when[0] if dimension.applies_when else (None, None)
        rows += [
            {
                "dimension": dimension.name,
                "dimension_position": dimension_position,
                "label": label,
                "label_position": label_position,
                "applies_when_dimension": gate_dimension,
                "applies_when_label": gate_label,
                "thread_scope": dimension.thread_scope,
                "taxonomy_version": taxonomy.version,
            }
            for label_position, label in enumerate(dimension.class_names)
        ]
    return pl.DataFrame(rows, schema_overrides={"applies_when_dimension": pl.String, "applies_when_label": pl.String})
