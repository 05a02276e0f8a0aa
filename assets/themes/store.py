"""Themes of the stigma-related posts, per stigma domain, kept in the warehouse with stable ids.

Reads the labelled posts and their cached embeddings (no second encoding: each post's vector comes
from the model of its route, so posts of the English and the multilingual model are themed apart),
finds themes per (stigma domain, embedding model), gives each theme the id of last run's matching
theme (themes.match_previous), and writes `labels.themes` (one row per theme: size, keywords,
centroid) and `labels.post_themes` (one row per stigma-related post: its theme, -1 for none). A post
keeps its `assigned_at` while its theme id stays, so the fact table's increment rewrites only posts
whose theme changed.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from stigma_insights.assets.labels.embedding import EMBEDDING_DIM
from stigma_insights.assets.themes.themes import (
    OUTLIER,
    Themes,
    ThemeWords,
    cluster,
    fitting_posts,
    match_previous,
    text_digests,
    theme_count,
    themes_of,
)
from stigma_insights.assets.warehouse_tables import POST_THEMES_TABLE, THEMES_DDL, THEMES_TABLE
from stigma_insights.registered import registered, replace_table

THEME_NAMES_FILE = Path(__file__).with_name("theme_names.yaml")
# The stigma-related posts of one domain and embedding model, read one group at a time.
GROUPS_SQL = """
    select distinct stigma_domain, embedding_model
    from labels.post_labels
    where relevance = 'relevant' and stigma_domain is not null
    order by all
"""
GROUP_POSTS_SQL = """
    select labels.post_key, labels.text_sha256, posts.text
    from labels.post_labels as labels
    join intermediate.int_posts_deduplicated as posts using (post_key)
    where labels.relevance = 'relevant' and labels.stigma_domain = $domain
        and labels.embedding_model = $model
    qualify row_number() over (partition by labels.post_key) = 1
    order by labels.post_key
"""
MODEL_VECTORS_SQL = "select text_sha256, embedding from labels.embedding_cache where model_id = $model"
STREAMED_ROWS = 50_000  # cached vectors (75 MB) or posts per Arrow batch
# Tonight's theme of each post, a group at a time; a post keeps its assigned_at while its theme stays.
TONIGHT_DDL = (
    "create or replace temp table tonight_post_themes (post_key varchar, stigma_domain varchar, theme_id integer)"
)
POST_THEMES_SQL = f"""
    create or replace table {POST_THEMES_TABLE} as
    select tonight.post_key, tonight.stigma_domain, tonight.theme_id,
        case when earlier.theme_id = tonight.theme_id then earlier.assigned_at else $now end as assigned_at
    from tonight_post_themes as tonight
    left join {POST_THEMES_TABLE} as earlier on earlier.post_key = tonight.post_key
"""


@dataclass(frozen=True)
class GroupPosts:
    """A group's posts that have a cached vector, in post key order."""

    post_keys: pa.Array
    embeddings: np.ndarray
    digests: np.ndarray  # themes.text_digests of their texts
    has_vector: np.ndarray  # per row of GROUP_POSTS_SQL: kept here (no cached vector, no theme, as a join would)


def group_posts(conn: duckdb.DuckDBPyConnection, domain: str, model: str) -> GroupPosts:
    """The group's keys, vectors and text digests; its texts are read a batch at a time and let go."""
    keys, hashes, digests = [], [], []
    for batch in conn.execute(GROUP_POSTS_SQL, {"domain": domain, "model": model}).to_arrow_reader(STREAMED_ROWS):
        keys.append(batch.column("post_key"))
        hashes.append(batch.column("text_sha256"))
        digests.append(text_digests(batch.column("text").to_pylist()))
    embeddings, has_vector = cached_vectors(conn, model, pa.chunked_array(hashes, pa.string()))
    return GroupPosts(
        post_keys=pa.chunked_array(keys, pa.string()).combine_chunks().filter(has_vector),
        embeddings=embeddings,
        digests=np.concatenate([np.zeros(0, ">u8"), *digests])[has_vector],
        has_vector=has_vector,
    )


def group_texts(conn: duckdb.DuckDBPyConnection, domain: str, model: str) -> Iterator[list[str]]:
    """The texts of `group_posts`' rows, in the same order, a batch at a time (same transaction, same rows)."""
    for batch in conn.execute(GROUP_POSTS_SQL, {"domain": domain, "model": model}).to_arrow_reader(STREAMED_ROWS):
        yield batch.column("text").to_pylist()


def cached_vectors(
    conn: duckdb.DuckDBPyConnection, model: str, hashes: pa.ChunkedArray
) -> tuple[np.ndarray, np.ndarray]:
    """The model's cached vector of each text hash that has one, in order, and which hashes have one.
    The cache is streamed and each batch's wanted vectors copied into one matrix: joined in SQL, DuckDB
    built its hash table from every cached vector of the model (1.5 GB for 300k posts, several GB at a
    million), and keeping each batch's vectors apart then stacking them held them twice."""
    distinct = pc.unique(hashes)
    vectors = np.empty((len(distinct), EMBEDDING_DIM), np.float32)
    found = np.zeros(len(distinct), bool)
    for batch in conn.execute(MODEL_VECTORS_SQL, {"model": model}).to_arrow_reader(STREAMED_ROWS):
        position = pc.index_in(batch.column("text_sha256"), value_set=distinct)
        wanted = position.is_valid()
        rows = position.filter(wanted).to_numpy()
        if len(rows):
            vectors[rows] = batch.column("embedding").filter(wanted).flatten().to_numpy().reshape(len(rows), -1)
            found[rows] = True
    row_of = pc.index_in(hashes, value_set=distinct).to_numpy()
    has_vector = found[row_of]
    if len(distinct) == len(hashes) and has_vector.all():  # one post per text, each cached: the rows are in order
        return vectors, has_vector
    return vectors[row_of[has_vector]], has_vector


@dataclass(frozen=True)
class ThemingSummary:
    themes: int
    posts: int
    outliers: int
    changed: int  # posts whose theme changed since the last run (new posts included)
    by_domain: dict[str, dict[str, float]]  # domain -> themes, outlier share


def theme_names(path: Path = THEME_NAMES_FILE) -> dict[int, str]:
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {int(theme_id): str(name) for theme_id, name in (document.get("names") or {}).items()}


def theme_group(conn: duckdb.DuckDBPyConnection, domain: str, model: str) -> tuple[pa.Array, Themes]:
    """The keys of one group's themed posts and their themes: clustered on their vectors (let go on return),
    keywords counted over their texts, read again a batch at a time."""
    posts = group_posts(conn, domain, model)
    assignment = cluster(posts.embeddings, fitting_posts(posts.digests))
    words, every_row, start = ThemeWords(theme_count(assignment)), np.full(len(posts.has_vector), OUTLIER), 0
    every_row[posts.has_vector] = assignment
    for texts in group_texts(conn, domain, model):
        words.add(texts, every_row[start : start + len(texts)])
        start += len(texts)
    return posts.post_keys, themes_of(posts.embeddings, assignment, words.keywords())


def theme_posts(conn: duckdb.DuckDBPyConnection, names: dict[int, str] | None = None) -> ThemingSummary:
    """`names`: theme id -> name (default: theme_names.yaml). Posts are read, themed and written in one
    transaction; a group's vectors are the largest thing held (1.5 KB a post)."""
    names = theme_names() if names is None else names
    conn.execute(THEMES_DDL)
    now = datetime.now(UTC)
    conn.begin()
    previous = conn.execute(f"select theme_id, stigma_domain, embedding_model, centroid from {THEMES_TABLE}").pl()
    conn.execute(TONIGHT_DDL)
    next_id = max(previous["theme_id"].to_list(), default=-1) + 1
    theme_rows: list[tuple] = []
    by_domain: dict[str, dict[str, int]] = {}
    for domain, model in conn.execute(GROUPS_SQL).fetchall():
        post_keys, themes = theme_group(conn, domain, model)
        earlier = previous.filter((pl.col("stigma_domain") == domain) & (pl.col("embedding_model") == model))
        earlier_centroids = np.asarray(earlier["centroid"].to_list(), dtype=np.float32).reshape(-1, EMBEDDING_DIM)
        ids = match_previous(themes, earlier["theme_id"].to_list(), earlier_centroids, next_id)
        next_id = max([next_id - 1, *ids]) + 1
        theme_rows += [
            (theme_id, domain, model, size, words, names.get(theme_id), centroid.tolist(), now)
            for theme_id, size, words, centroid in zip(
                ids, themes.sizes, themes.keywords, themes.centroids, strict=True
            )
        ]
        assignment, theme_ids = themes.assignment, np.full(len(themes.assignment), OUTLIER)
        themed = assignment != OUTLIER
        theme_ids[themed] = np.asarray(ids)[assignment[themed]]
        tonight = {"post_key": post_keys, "stigma_domain": pa.array([domain] * len(assignment), pa.string())}
        with registered(conn, "group_rows", pa.table({**tonight, "theme_id": pa.array(theme_ids, pa.int32())})):
            conn.execute("insert into tonight_post_themes select * from group_rows")
        counts = by_domain.setdefault(domain, {"themes": 0, "posts": 0, "outliers": 0})
        counts["themes"] += len(ids)
        counts["posts"] += len(assignment)
        counts["outliers"] += int((assignment == OUTLIER).sum())
    theme_frame = pl.DataFrame(
        theme_rows,
        schema={
            "theme_id": pl.Int32,
            "stigma_domain": pl.String,
            "embedding_model": pl.String,
            "n_posts": pl.Int32,
            "keywords": pl.List(pl.String),
            "name": pl.String,
            "centroid": pl.List(pl.Float32),
            "found_at": pl.Datetime("us", "UTC"),
        },
        orient="row",
    )
    # Both tables are rebuilt whole each run (replaced, so a column added later needs no migration).
    replace_table(conn, THEMES_TABLE, theme_frame.to_arrow())
    conn.execute(POST_THEMES_SQL, {"now": now})
    [(changed,)] = conn.execute(
        f"select count(*) from {POST_THEMES_TABLE} where assigned_at = $now", {"now": now}
    ).fetchall()
    conn.execute("drop table tonight_post_themes")
    conn.commit()
    return ThemingSummary(
        themes=len(theme_rows),
        posts=sum(c["posts"] for c in by_domain.values()),
        outliers=sum(c["outliers"] for c in by_domain.values()),
        changed=changed,
        by_domain={
            domain: {"themes": c["themes"], "outlier_share": round(c["outliers"] / c["posts"], 4)}
            for domain, c in by_domain.items()
        },
    )
