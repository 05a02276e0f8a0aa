"""Read labellable posts from and write labels (and the engines' error rates) to the warehouse."""

from datetime import datetime, timezone

import duckdb
import polars as pl

from assets.labels.embedding import MODEL_NAME
from assets.labels.engine import LabelEngine
from assets.labels.labeller import label_texts, train_from_taxonomy
from assets.labels.taxonomy import Taxonomy

POST_LABELS_TABLE = "labels.post_labels"
ERROR_RATES_TABLE = "labels.label_error_rates"
LABELLABLE_POSTS_SQL = """
    select post_key, text
    from intermediate.posts
    where status = 'available' and trim(coalesce(text, '')) <> ''
    order by post_key
"""


def label_posts(posts: pl.DataFrame, taxonomy: Taxonomy) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Labels (one row per post: label, confidence and uncertainty per dimension) and error rates."""
    engines = train_from_taxonomy(taxonomy)
    labelled = label_texts(posts["text"].to_list(), taxonomy, engines)
    columns: dict[str, pl.Series] = {"post_key": posts["post_key"]}
    for dimension, result in labelled.items():
        columns[dimension] = pl.Series(result.labels, dtype=pl.String)
        columns[f"{dimension}_confidence"] = pl.Series(result.confidences, dtype=pl.Float64)
        columns[f"{dimension}_is_uncertain"] = pl.Series(result.uncertain, dtype=pl.Boolean)
    provenance = {"model_name": pl.lit(MODEL_NAME), "taxonomy_version": pl.lit(taxonomy.version)}
    labels = pl.DataFrame(columns).with_columns(**provenance, labelled_at=pl.lit(datetime.now(timezone.utc)))
    return labels, error_rates(engines).with_columns(**provenance)


def error_rates(engines: dict[str, LabelEngine]) -> pl.DataFrame:
    """Per dimension, how often held-out items of each class were labelled as each class."""
    rows = [
        {"dimension": name, "true_label": str(true), "predicted_label": str(predicted),
         "rate": float(engine.calibration.hard_rates[i, j])}
        for name, engine in engines.items()
        for i, true in enumerate(engine.classes_)
        for j, predicted in enumerate(engine.classes_)
    ]
    return pl.DataFrame(rows)


def replace_post_labels(conn: duckdb.DuckDBPyConnection, labels: pl.DataFrame, rates: pl.DataFrame) -> None:
    """Swap in the new labels and rates in one transaction: readers see the old set or the new one."""
    conn.execute("create schema if not exists labels")
    conn.register("new_post_labels", labels.to_arrow())
    conn.register("new_error_rates", rates.to_arrow())
    conn.begin()
    try:
        conn.execute(f"create or replace table {POST_LABELS_TABLE} as select * from new_post_labels")
        conn.execute(f"create or replace table {ERROR_RATES_TABLE} as select * from new_error_rates")
        conn.commit()
    except Exception:
        conn.rollback()
        raise
    finally:
        conn.unregister("new_post_labels")
        conn.unregister("new_error_rates")
