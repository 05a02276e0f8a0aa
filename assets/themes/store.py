"""Themes of the stigma-related posts, per stigma domain, kept in the warehouse with stable ids.

Reads the labelled posts and their cached embeddings (no second encoding: each post's vector comes
from the model of its route, so posts of the English and the multilingual model are themed apart),
finds themes per (stigma domain, embedding model), gives each theme the id of last run's matching
theme (themes.match_previous), and writes `labels.themes` (one row per theme: size, keywords,
centroid) and `labels.post_themes` (one row per stigma-related post: its theme, -1 for none). A post
keeps its `assigned_at` while its theme id stays, so the fact table's increment rewrites only posts
whose theme changed.
"""

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
from stigma_insights.assets.themes.themes import OUTLIER, find_themes, match_previous

THEME_NAMES_FILE = Path(__file__).with_name("theme_names.yaml")
THEMES_TABLE = "labels.themes"
POST_THEMES_TABLE = "labels.post_themes"
DDL = f"""
create schema if not exists labels;
create table if not exists {THEMES_TABLE} (
    theme_id integer not null,
    stigma_domain varchar not null,
    embedding_model varchar not null,
    n_posts integer not null,
    keywords varchar[] not null,
    name varchar,  -- from theme_names.yaml, where a researcher named the theme
    centroid float[] not null,  -- EMBEDDING_DIM values (DuckLake has no fixed-size arrays)
    found_at timestamptz not null
);
create table if not exists {POST_THEMES_TABLE} (
    post_key varchar not null,
    stigma_domain varchar not null,
    theme_id integer not null,
    assigned_at timestamptz not null
)
"""
# The stigma-related posts of one domain and embedding model, read one group at a time.
GROUPS_SQL = """
    select distinct stigma_domain, split_part(model_name, '|engine:', 1) as embedding_model
    from labels.post_labels
    where relevance = 'relevant' and stigma_domain is not null
    order by all
"""
GROUP_POSTS_SQL = """
    select labels.post_key, labels.text_sha256, posts.text
    from labels.post_labels as labels
    join intermediate.int_posts_deduplicated as posts using (post_key)
    where labels.relevance = 'relevant' and labels.stigma_domain = $domain
        and split_part(labels.model_name, '|engine:', 1) = $model
    qualify row_number() over (partition by labels.post_key) = 1
    order by labels.post_key
"""
MODEL_VECTORS_SQL = "select text_sha256, embedding from labels.embedding_cache where model_id = $model"
STREAMED_ROWS = 50_000  # cached vectors per Arrow batch (75 MB)


def cached_vectors(conn: duckdb.DuckDBPyConnection, model: str, hashes: list[str]) -> dict[str, np.ndarray]:
    """The model's cached vectors of these text hashes. The cache is streamed and filtered batch by batch:
    joined in SQL, DuckDB built its hash table from every cached vector of the model (1.5 GB for 300k
    posts here, several GB at a million)."""
    wanted = pa.array(set(hashes), pa.string())
    vectors: dict[str, np.ndarray] = {}
    for batch in conn.execute(MODEL_VECTORS_SQL, {"model": model}).to_arrow_reader(STREAMED_ROWS):
        kept = batch.filter(pc.is_in(batch.column("text_sha256"), value_set=wanted))
        if kept.num_rows:
            flat = kept.column("embedding").flatten().to_numpy().astype(np.float32, copy=False)
            vectors.update(zip(kept.column("text_sha256").to_pylist(), flat.reshape(kept.num_rows, -1), strict=True))
    return vectors


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


def theme_posts(conn: duckdb.DuckDBPyConnection, names: dict[int, str] | None = None) -> ThemingSummary:
    """`names`: theme id -> name (default: theme_names.yaml)."""
    names = theme_names() if names is None else names
    conn.execute(DDL)
    previous = conn.execute(f"select theme_id, stigma_domain, embedding_model, centroid from {THEMES_TABLE}").pl()
    before = {
        key: (theme, at)
        for key, theme, at in conn.execute(
            f"select post_key, theme_id, assigned_at from {POST_THEMES_TABLE}"
        ).fetchall()
    }
    now = datetime.now(UTC)
    next_id = max(previous["theme_id"].to_list(), default=-1) + 1
    theme_rows: list[tuple] = []
    post_rows: list[tuple] = []
    by_domain: dict[str, dict[str, int]] = {}
    for domain, model in conn.execute(GROUPS_SQL).fetchall():
        group = conn.execute(GROUP_POSTS_SQL, {"domain": domain, "model": model}).fetchall()
        vectors = cached_vectors(conn, model, [text_sha256 for _, text_sha256, _ in group])
        group = [post for post in group if post[1] in vectors]  # as a join would: no cached vector, no theme
        post_keys = [post_key for post_key, _, _ in group]
        embeddings = np.stack([vectors[text_sha256] for _, text_sha256, _ in group]) if group else np.zeros((0, 1))
        themes = find_themes([text for _, _, text in group], embeddings)
        del group, vectors  # the texts and vectors go before the next domain's are read
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
        for key, theme in zip(post_keys, themes.assignment, strict=True):
            theme_id = ids[theme] if theme != OUTLIER else OUTLIER
            kept = before.get(key)
            post_rows.append((key, domain, theme_id, kept[1] if kept and kept[0] == theme_id else now))
        counts = by_domain.setdefault(domain, {"themes": 0, "posts": 0, "outliers": 0})
        counts["themes"] += len(ids)
        counts["posts"] += len(post_keys)
        counts["outliers"] += int((themes.assignment == OUTLIER).sum())
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
    post_frame = pl.DataFrame(
        post_rows,
        schema={
            "post_key": pl.String,
            "stigma_domain": pl.String,
            "theme_id": pl.Int32,
            "assigned_at": pl.Datetime("us", "UTC"),
        },
        orient="row",
    )
    # Both tables are rebuilt whole each run (replaced, so a column added later needs no migration).
    conn.begin()
    for table, frame in ((THEMES_TABLE, theme_frame), (POST_THEMES_TABLE, post_frame)):
        conn.register("new_rows", frame.to_arrow())
        try:
            conn.execute(f"create or replace table {table} as select * from new_rows")
        finally:
            conn.unregister("new_rows")
    conn.commit()
    changed = sum(1 for row in post_rows if row[3] == now)
    return ThemingSummary(
        themes=len(theme_rows),
        posts=len(post_rows),
        outliers=sum(1 for row in post_rows if row[2] == OUTLIER),
        changed=changed,
        by_domain={
            domain: {"themes": c["themes"], "outlier_share": round(c["outliers"] / c["posts"], 4)}
            for domain, c in by_domain.items()
        },
    )
