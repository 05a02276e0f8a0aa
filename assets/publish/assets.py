"""The Dagster asset that publishes the marts for analysts after a successful run."""

from collections.abc import Sequence
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from stigma_insights.assets.publish.analyst_copy import Publication, change_summary, data_source, publish_marts
from stigma_insights.resources import WAREHOUSE_POOL, ProjectFiles

ANALYST_MARTS = dg.AssetKey(["published", "analyst_marts"])


def build_analyst_marts(deps: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    """The published copy, downstream of `deps`: every mart the dbt steps build."""

    @dg.asset(
        key=ANALYST_MARTS,
        deps=deps,
        group_name="published",
        kinds={"duckdb"},
        pool=WAREHOUSE_POOL,
        description="Read-only copy of the marts schema for analysts, replaced atomically after each run.",
    )
    def analyst_marts(
        context: dg.AssetExecutionContext, duckdb: DuckDBResource, project_files: ProjectFiles
    ) -> dg.MaterializeResult:
        target = Path(project_files.published_file)
        with duckdb.get_connection() as conn:
            source = data_source(conn, Path(project_files.bundled_sample_folder))
            counts = publish_marts(conn, target, publication_of_this_run(context, source))
        return dg.MaterializeResult(
            metadata={"path": str(target), "tables": dg.MetadataValue.json(counts), **change_summary(target)}
        )

    return analyst_marts


def publication_of_this_run(context: dg.AssetExecutionContext, source: str) -> Publication:
    """This run's publication: its data source and the asset checks evaluated so far (every check upstream of
    the published marts)."""
    records = context.instance.get_records_for_run(
        context.run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    evaluations = [record.event_log_entry.dagster_event.asset_check_evaluation_data for record in records]
    failed = [
        f"{e.asset_check_key.asset_key.to_user_string()}:{e.asset_check_key.name}" for e in evaluations if not e.passed
    ]
    return Publication(context.run.run_id, len(evaluations) - len(failed), len(failed), ", ".join(failed), source)
