"""The Dagster definitions: `dagster dev -w workspace.yaml` loads `defs` from here."""

import dagster as dg
from dagster_dbt import DbtCliResource
from dagster_duckdb import DuckDBResource

from assets.ingest.assets import raw_assets
from assets.ingest.formats import SOURCE_FORMATS
from assets.labels.assets import annotations, labels
from assets.labels.taxonomy import load_taxonomy
from assets.publish.assets import analyst_marts
from orchestration.dbt import DBT_STEPS, dbt_aggregates, dbt_clean_and_unify, dbt_labelled_fact, dbt_project
from orchestration.settings import warehouse_path
from quality.accounting import build_accounting_check
from quality.checks import build_gx_check
from quality.suites import labelled_posts_suite

LABELLED_FACT = dg.AssetKey(["marts", "fct_labelled_posts"])

labelled_fact_check = build_gx_check(
    LABELLED_FACT, "marts.fct_labelled_posts", lambda: labelled_posts_suite(load_taxonomy())
)

materialise_everything = dg.define_asset_job(
    "materialise_everything",
    selection=dg.AssetSelection.all(include_sources=False),
    description="Landing files -> raw -> dbt staging/posts -> labels -> labelled fact -> checks -> aggregates"
    " -> published analyst copy.",
)

nightly = dg.ScheduleDefinition(
    name="nightly_materialise_everything",
    job=materialise_everything,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="The whole graph every night at 02:00 UTC; turn it on in the UI or with `dagster schedule start`.",
)


def refresh_run_config(full_refresh: bool) -> dict:
    """Run config for the job: incremental (the nightly default), or rebuild dbt models whole and relabel all."""
    return {
        "ops": {
            **{step.op.name: {"config": {"full_refresh": full_refresh}} for step in DBT_STEPS},
            "labels": {"config": {"relabel_all": full_refresh}},
        }
    }


def build_definitions() -> dg.Definitions:
    """Definitions bound to the warehouse that the environment names at call time."""
    return dg.Definitions(
        assets=[*raw_assets, dbt_clean_and_unify, annotations, labels, dbt_labelled_fact, dbt_aggregates, analyst_marts],
        asset_checks=[labelled_fact_check, *(build_accounting_check(s) for s in SOURCE_FORMATS.values())],
        jobs=[materialise_everything],
        schedules=[nightly],
        resources={
            "duckdb": DuckDBResource(database=str(warehouse_path())),
            "warehouse_reader": DuckDBResource(
                database=str(warehouse_path()), connection_config={"access_mode": "READ_ONLY"}
            ),
            "dbt": DbtCliResource(project_dir=dbt_project),
        },
    )


defs = build_definitions()
