"""The Dagster asset that publishes the marts for analysts after a successful run."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.publish.analyst_copy import publish_marts
from orchestration.dbt import dbt_aggregates, dbt_labelled_fact
from orchestration.settings import WAREHOUSE_POOL, published_path


@dg.asset(
    key=["published", "analyst_marts"],
    # Every mart the dbt steps build, so a mart added later is published too.
    deps=[*dbt_labelled_fact.keys, *dbt_aggregates.keys],
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
