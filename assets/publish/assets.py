"""The Dagster asset that publishes the marts for analysts after a successful run."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.publish.analyst_copy import publish_marts
from orchestration.settings import WAREHOUSE_POOL, published_path

MARTS = [
    "fct_labelled_posts", "agg_stigma_domain_by_platform", "agg_intent_by_platform", "agg_labels_by_region",
    "agg_labels_by_gender", "agg_subreddits_by_region", "agg_adjusted_label_shares",
]


@dg.asset(
    key=["published", "analyst_marts"],
    deps=[dg.AssetKey(["marts", name]) for name in MARTS],
    group_name="published",
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
    description="Read-only copy of the marts schema for analysts, replaced atomically after each run.",
)
def analyst_marts(duckdb: DuckDBResource) -> dg.MaterializeResult:
    target = published_path()
    with duckdb.get_connection() as conn:
        counts = publish_marts(conn, target)
    return dg.MaterializeResult(metadata={"path": str(target), "tables": dg.MetadataValue.json(counts)})
