"""The Dagster definitions, the top layer: `dagster dev -w workspace.yaml` loads `defs` from here.

`defs` is built when Dagster loads it, not on import, from the settings the environment gives at
that moment; tests and the CLI call `build_definitions` with settings of their own.
"""

import dagster as dg
from dagster_dbt import DbtProject
from dagster_dbt.dbt_project import using_dagster_dev

from stigma_insights.assets.collect.assets import backfill_jobs, collection_assets
from stigma_insights.assets.collect.config import load_collection
from stigma_insights.assets.ingest.assets import raw_assets
from stigma_insights.assets.labels.assets import annotations, labels, reply_empathy
from stigma_insights.assets.labels.taxonomy import load_taxonomy
from stigma_insights.assets.maintenance.assets import build_warehouse_storage
from stigma_insights.assets.publish.assets import build_analyst_marts
from stigma_insights.assets.report.assets import insight_report
from stigma_insights.assets.themes.assets import themes
from stigma_insights.orchestration.dbt import DBT_STEP_SELECTIONS, build_dbt_steps, dbt_project, prepare_manifest
from stigma_insights.orchestration.sensors import build_landing_sensor, release_killed_runs
from stigma_insights.quality.accounting import accounting_checks
from stigma_insights.quality.checks import build_gx_check
from stigma_insights.quality.suites import labelled_posts_suites
from stigma_insights.resources import build_resources
from stigma_insights.settings import Settings

LABELLED_FACT = dg.AssetKey(["marts", "fct_labelled_posts"])
MATERIALISE_EVERYTHING = "materialise_everything"


def labelled_fact_check() -> dg.AssetChecksDefinition:
    return build_gx_check(LABELLED_FACT, lambda: labelled_posts_suites(load_taxonomy()))


def refresh_run_config(full_refresh: bool) -> dict:
    """Run config for the job: incremental (the nightly default), or rebuild dbt models whole and relabel all."""
    return {
        "ops": {
            **{step: {"config": {"full_refresh": full_refresh}} for step in DBT_STEP_SELECTIONS},
            **{asset.op.name: {"config": {"relabel_all": full_refresh}} for asset in (labels, reply_empathy)},
        }
    }


def build_definitions(settings: Settings, project: DbtProject | None = None) -> dg.Definitions:
    """Definitions bound to these settings' warehouse, landing folder and published copy."""
    project = project or dbt_project(settings)
    steps = build_dbt_steps(project)
    materialise_everything = dg.define_asset_job(
        MATERIALISE_EVERYTHING,
        # Everything but the day-partitioned history collection (backfills of its own).
        selection=dg.AssetSelection.all() - dg.AssetSelection.groups("collect_history"),
        description="Collected pages (sources turned on in collection.yaml) -> landing files -> raw"
        " -> dbt staging/posts -> labels -> labelled fact -> checks -> aggregates"
        " -> published analyst copy -> insight report -> storage upkeep.",
        # One process for the whole run: the graph is serial (one DuckDB writer at a time), and a process
        # per step would pay the imports (torch, dbt) fourteen times over.
        executor_def=dg.in_process_executor,
    )
    nightly = dg.ScheduleDefinition(
        name="nightly_materialise_everything",
        job=materialise_everything,
        cron_schedule="0 2 * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="The whole graph every night at 02:00 UTC; turn it on in the UI or with `dagster schedule start`.",
    )
    return dg.Definitions(
        assets=[
            *collection_assets(load_collection(settings.collection_file)),
            *raw_assets(),
            steps.clean_and_unify,
            annotations,
            labels,
            reply_empathy,
            themes,
            steps.labelled_fact,
            steps.aggregates,
            # Every mart the dbt steps build, so a mart added later is published too.
            build_analyst_marts(deps=[*steps.labelled_fact.keys, *steps.aggregates.keys]),
            insight_report,
            build_warehouse_storage(settings.lake),
        ],
        asset_checks=[labelled_fact_check(), *accounting_checks()],
        jobs=[materialise_everything, *backfill_jobs()],
        schedules=[nightly],
        sensors=[release_killed_runs, build_landing_sensor(settings.landing, materialise_everything)],
        resources=build_resources(settings, project),
    )


@dg.definitions
def defs() -> dg.Definitions:
    settings = Settings.from_env()
    project = dbt_project(settings)
    if using_dagster_dev():  # `dagster dev` re-parses on every load, so edited models show up
        prepare_manifest(settings, project)
    return build_definitions(settings, project)
