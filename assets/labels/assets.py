"""The Dagster labels asset: embedding-based labels for every labellable post."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.labels.embedding import MODEL_NAME
from assets.labels.store import LABELLABLE_POSTS_SQL, label_posts, replace_post_labels
from assets.labels.taxonomy import load_taxonomy
from orchestration.settings import WAREHOUSE_WRITER_POOL


@dg.asset(
    key=["labels", "post_labels"],
    deps=[dg.AssetKey(["intermediate", "posts"])],
    group_name="labels",
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_WRITER_POOL,
    description="Relevance, stigma domain and intent for each post, from all-MiniLM-L6-v2 embeddings "
    "and the taxonomy's descriptions and examples.",
)
def post_labels(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
    taxonomy = load_taxonomy()
    with duckdb.get_connection() as conn:
        posts = conn.sql(LABELLABLE_POSTS_SQL).pl()
        context.log.info(f"Labelling {posts.height} posts with {MODEL_NAME}, taxonomy {taxonomy.version}")
        labels = label_posts(posts, taxonomy)
        replace_post_labels(conn, labels)
    counts = {
        dimension.name: labels[dimension.name].drop_nulls().value_counts().sort(dimension.name).rows()
        for dimension in taxonomy.dimensions
    }
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": labels.height,
            "model_name": MODEL_NAME,
            "taxonomy_version": taxonomy.version,
            "label_counts": dg.MetadataValue.json({k: dict(v) for k, v in counts.items()}),
        }
    )
