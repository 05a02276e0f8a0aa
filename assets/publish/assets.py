"""The Dagster asset that publishes the marts for analysts after a successful run."""

from collections.abc import Sequence
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from stigma_insights.assets.publish.analyst_copy import publish_marts
from stigma_insights.resources import WAREHOUSE_POOL, ProjectFiles


def build_analyst_marts(deps: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    """The published copy, downstream of `deps`: every mart the dbt steps build."""

    @dg.asset(
        key=["published", "analyst_marts"],
        deps=deps,
        group_name="published",
        kinds={"duckdb"},
        pool=WAREHOUSE_POOL,
        description="Read-only copy of the marts schema for analysts, replaced atomically after each run.",
    )
    def analyst_marts(duckdb: DuckDBResource, project_files: ProjectFiles) -> dg.MaterializeResult:
        target = Path(project_files.published_file)
        with duckdb.get_connection() as conn:
            counts = publish_marts(conn, target)
        return dg.MaterializeResult(metadata={"path": str(target), "tables": dg.MetadataValue.json(counts)})

    return analyst_marts
