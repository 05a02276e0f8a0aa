"""Read labellable posts from and write labels to the warehouse."""

from datetime import datetime, timezone

import duckdb
import polars as pl

from assets.labels.embedding import MODEL_NAME
from assets.labels.labeller import label_texts
from assets.labels.taxonomy import Taxonomy

POST_LABELS_TABLE = "labels.post_labels"
LABELLABLE_POSTS_SQL = """
    select post_key, text
    from intermediate.posts
    where status = 'available' and trim(coalesce(text, '')) <> ''
    order by post_key
"""


def label_posts(posts: pl.DataFrame, taxonomy: Taxonomy) -> pl.DataFrame:
    """One row per post: label and confidence per dimension, model and taxonomy version."""
    labelled = label_texts(posts["text"].to_list(), taxonomy)
    columns: dict[str, pl.Series] = {"post_key": posts["post_key"]}
    for dimension, result in labelled.items():
        columns[dimension] = pl.Series(dimension, result.labels, dtype=pl.String)
        columns[f"{dimension}_confidence"] = pl.Series(result.confidences, dtype=pl.Float64)
    return pl.DataFrame(columns).with_columns(
        model_name=pl.lit(MODEL_NAME),
        taxonomy_version=pl.lit(taxonomy.version),
        labelled_at=pl.lit(datetime.now(timezone.utc)),
    )


def replace_post_labels(conn: duckdb.DuckDBPyConnection, labels: pl.DataFrame) -> None:
    """Swap in the new labels in one transaction: readers see the old table or the new one."""
    conn.execute("create schema if not exists labels")
    conn.register("new_post_labels", labels.to_arrow())
    conn.begin()
    try:
        conn.execute(f"create or replace table {POST_LABELS_TABLE} as select * from new_post_labels")
        conn.commit()
    except Exception:
        conn.rollback()
        raise
    finally:
        conn.unregister("new_post_labels")
