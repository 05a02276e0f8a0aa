"""The Dagster labels asset: embedding-based labels for every labellable post, incrementally."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.labels.store import POST_LABELS_TABLE, label_new_posts
from assets.labels.taxonomy import load_taxonomy
from orchestration.settings import WAREHOUSE_POOL

POSTS = dg.AssetKey(["intermediate", "posts"])


class LabelsConfig(dg.Config):
    relabel_all: bool = False  # label every post again (embeddings still come from the cache)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["labels", "post_labels"],
            deps=[POSTS],
            description="Relevance, stigma domain and intent for each post: label, calibrated confidence "
            "and uncertain flag, from MiniLM embeddings and engines trained on the taxonomy. Incremental: "
            "only posts with new text, model or taxonomy are labelled; embeddings are cached.",
        ),
        dg.AssetSpec(
            ["labels", "label_error_rates"],
            deps=[POSTS],
            description="Per dimension, the engines' cross-validated confusion rates: used to adjust shares.",
        ),
    ],
    name="labels",
    group_name="labels",
    pool=WAREHOUSE_POOL,
)
def labels(context: dg.AssetExecutionContext, config: LabelsConfig, duckdb: DuckDBResource):
    taxonomy = load_taxonomy()
    with duckdb.get_connection() as conn:
        summary = label_new_posts(conn, taxonomy, relabel_all=config.relabel_all, log=context.log.info)
        (rows,) = conn.execute(f"select count(*) from {POST_LABELS_TABLE}").fetchone()
        counts = {
            dimension.name: dict(conn.execute(
                f"select {dimension.name}, count(*) from {POST_LABELS_TABLE} where {dimension.name} is not null"
                f" group by all order by 1").fetchall())
            for dimension in taxonomy.dimensions
        }
        uncertain = {
            dimension.name: conn.execute(
                f"select avg({dimension.name}_is_uncertain::int) from {POST_LABELS_TABLE}").fetchone()[0]
            for dimension in taxonomy.dimensions
        }
    provenance = {"model_name": summary.model_id, "taxonomy_version": taxonomy.version}
    yield dg.MaterializeResult(
        asset_key=["labels", "post_labels"],
        metadata={
            "dagster/row_count": rows,
            **provenance,
            "labelled_this_run": summary.labelled,
            "kept_from_earlier_runs": summary.kept,
            "removed_stale": summary.removed,
            "embeddings_computed": summary.embeddings_computed,
            "embeddings_from_cache": summary.embeddings_from_cache,
            "label_counts": dg.MetadataValue.json(counts),
            "uncertain_share": dg.MetadataValue.json(uncertain),
        },
    )
    yield dg.MaterializeResult(asset_key=["labels", "label_error_rates"], metadata=provenance)
