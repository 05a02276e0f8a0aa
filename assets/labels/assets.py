"""The Dagster labels asset: embedding-based labels for every labellable post."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.labels.embedding import MODEL_NAME
from assets.labels.store import LABELLABLE_POSTS_SQL, label_posts, replace_post_labels
from assets.labels.taxonomy import load_taxonomy
from orchestration.settings import WAREHOUSE_POOL

POSTS = dg.AssetKey(["intermediate", "posts"])


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["labels", "post_labels"],
            deps=[POSTS],
            description="Relevance, stigma domain and intent for each post: label, calibrated confidence "
            "and uncertain flag, from MiniLM embeddings and engines trained on the taxonomy.",
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
def labels(context: dg.AssetExecutionContext, duckdb: DuckDBResource):
    taxonomy = load_taxonomy()
    with duckdb.get_connection() as conn:
        posts = conn.sql(LABELLABLE_POSTS_SQL).pl()
        context.log.info(f"Labelling {posts.height} posts with {MODEL_NAME}, taxonomy {taxonomy.version}")
        post_labels, rates = label_posts(posts, taxonomy)
        replace_post_labels(conn, post_labels, rates)
    counts = {
        dimension.name: dict(post_labels[dimension.name].drop_nulls().value_counts().sort(dimension.name).rows())
        for dimension in taxonomy.dimensions
    }
    provenance = {"model_name": MODEL_NAME, "taxonomy_version": taxonomy.version}
    yield dg.MaterializeResult(
        asset_key=["labels", "post_labels"],
        metadata={
            "dagster/row_count": post_labels.height,
            **provenance,
            "label_counts": dg.MetadataValue.json(counts),
            "uncertain_share": dg.MetadataValue.json(
                {d.name: post_labels[f"{d.name}_is_uncertain"].drop_nulls().mean() for d in taxonomy.dimensions}
            ),
        },
    )
    yield dg.MaterializeResult(
        asset_key=["labels", "label_error_rates"], metadata={"dagster/row_count": rates.height, **provenance}
    )
