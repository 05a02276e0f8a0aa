"""The dbt project as Dagster assets, split at the Python labels asset and at the blocking checks.

Three dbt steps: clean and unify (seeds, staging, intermediate), then the labelled fact table
(after the labels asset), then the aggregates (after the fact table's blocking checks pass).
Nothing here runs on import: the steps are built from a parsed manifest by `build_dbt_steps`, and
`prepare_manifest` (the CLI's run and prepare commands, the tests, `dagster dev`) parses the project.
"""

import shutil
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import dagster as dg
import duckdb
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets
from dagster_duckdb import DuckDBResource

from stigma_insights.atomic_file import write_atomically
from stigma_insights.resources import WAREHOUSE_POOL, dbt_cli
from stigma_insights.settings import Settings

DBT_SOURCE_FOLDERS = ("models", "macros", "seeds", "tests")
PARTIAL_PARSE_FILE = "partial_parse.msgpack"


def dbt_project(settings: Settings) -> DbtProject:
    return DbtProject(project_dir=settings.dbt_project_dir, profiles_dir=settings.dbt_project_dir)


def manifest_is_stale(project: DbtProject) -> bool:
    """No manifest yet (a fresh checkout), or a project file changed after the last parse."""
    if not project.manifest_path.exists():
        return True
    parsed_at = project.manifest_path.stat().st_mtime
    project_files = [
        project.project_dir / "dbt_project.yml",
        *(path for folder in DBT_SOURCE_FOLDERS for path in (project.project_dir / folder).rglob("*")),
    ]
    return any(path.stat().st_mtime > parsed_at for path in project_files if path.is_file())


def prepare_manifest(settings: Settings, project: DbtProject, force: bool = False) -> bool:
    """`dbt parse` into the manifest the dbt assets are built from, when it is missing or stale."""
    if not (force or manifest_is_stale(project)):
        return False
    dbt_cli(settings, project).cli(["parse", "--quiet"], target_path=project.target_path).wait()
    return True


class WarehouseTranslator(DagsterDbtTranslator):
    """Models and seeds are keyed and grouped by their warehouse schema: marts/fct_labelled_posts."""

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        node = manifest["nodes"].get(unique_id)
        if node is None or node["resource_type"] not in ("model", "seed"):
            return spec
        return spec.replace_attributes(key=dg.AssetKey([node["schema"], node["name"]]), group_name=node["schema"])


class DbtBuildConfig(dg.Config):
    # Rebuild incremental models whole (after a change to their SQL, or to repair them).
    full_refresh: bool = False


class DbtSteps(NamedTuple):
    clean_and_unify: dg.AssetsDefinition  # seeds, one staging view per source, the de-duplicated posts
    labelled_fact: dg.AssetsDefinition  # posts joined with their labels
    aggregates: dg.AssetsDefinition  # aggregate marts with counts, shares and intervals


# Each step's op name and dbt selection, in the order of DbtSteps.
DBT_STEP_SELECTIONS = {
    "dbt_clean_and_unify": "resource_type:seed path:models/staging path:models/intermediate",
    "dbt_labelled_fact": "fct_labelled_posts",
    "dbt_aggregates": "path:models/marts/aggregates",
}
# dbt runs a test with the first selected model it touches: the fact table's row-count test compares it
# with int_posts_deduplicated and must run after the fact table is built, not in the first step.
DBT_STEP_EXCLUSIONS = {"dbt_clean_and_unify": "test_name:same_row_count_as"}


def _dbt_step(project: DbtProject, name: str, select: str) -> dg.AssetsDefinition:
    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        select=select,
        exclude=DBT_STEP_EXCLUSIONS.get(name, ""),
        name=name,
        dagster_dbt_translator=WarehouseTranslator(settings=DagsterDbtTranslatorSettings(enable_code_references=True)),
        pool=WAREHOUSE_POOL,
    )
    def _assets(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse_reader: DuckDBResource, config: DbtBuildConfig
    ):
        # dagster-dbt's fetch_row_counts() would open the warehouse from this process while the dbt process
        # holds DuckDB's single write lock (it fails, and blocks the next writer): the events wait for dbt
        # to exit, then take their row counts and column types from the warehouse.
        invocation = dbt.cli(["build", *(["--full-refresh"] if config.full_refresh else [])], context=context)
        events = list(invocation.stream())
        with warehouse_reader.get_connection() as conn:
            yield from with_table_metadata(context, conn, events)
        keep_parse_state(invocation.target_path, project)
        # Each invocation writes its own target folder (~4 MB): nightly runs would pile them up for ever.
        # A failed build raises before this line and keeps its folder (logs, run_results.json) for debugging.
        shutil.rmtree(invocation.target_path, ignore_errors=True)

    return _assets


def keep_parse_state(invocation_target: Path, project: DbtProject) -> None:
    """Hand this invocation's partial-parse state to the next one (dagster-dbt copies the project's into each).

    dbt parses the whole project again (about 2 s of each step here) when the profile differs from the one
    the state was written with, and the profile holds the warehouse's path: the project's state, written by
    `prepare` for the default warehouse, never fits a run on another. Passed on, it fits the run's next steps
    and the next run on the same warehouse; a state that does not fit only costs that parse again."""
    state = invocation_target / PARTIAL_PARSE_FILE
    if state.exists():
        destination = project.project_dir / project.target_path / PARTIAL_PARSE_FILE
        write_atomically(destination, state.read_bytes())  # a step starting now copies the old state or the new


def with_table_metadata(
    context: dg.AssetExecutionContext, conn: duckdb.DuckDBPyConnection, events: Iterable[Any]
) -> Iterator[Any]:
    """Each model's materialisation with its column schema (types and descriptions) and, for tables, row count."""
    for event in events:
        if isinstance(event, dg.Output):
            schema, name = context.asset_key_for_output(event.output_name).path
            event = event.with_metadata({**event.metadata, **table_metadata(conn, schema, name)})
        yield event


def table_metadata(conn: duckdb.DuckDBPyConnection, schema: str, name: str) -> dict[str, dg.MetadataValue]:
    columns = conn.execute(
        "select column_name, data_type, comment from duckdb_columns()"
        " where schema_name = ? and table_name = ? and database_name = current_database() order by column_index",
        [schema, name],
    ).fetchall()
    metadata: dict[str, dg.MetadataValue] = {
        "dagster/column_schema": dg.MetadataValue.table_schema(
            dg.TableSchema(columns=[dg.TableColumn(column, kind, comment) for column, kind, comment in columns])
        )
    }
    is_table = conn.execute(
        "select count(*) from duckdb_tables() where schema_name = ? and table_name = ?"
        " and database_name = current_database()",
        [schema, name],
    ).fetchone() == (1,)
    if is_table:  # a view's count would run its query: tables only
        [(rows,)] = conn.execute(f'select count(*) from "{schema}"."{name}"').fetchall()
        metadata["dagster/row_count"] = dg.MetadataValue.int(rows)
    return metadata


def build_dbt_steps(project: DbtProject) -> DbtSteps:
    if not project.manifest_path.exists():
        raise FileNotFoundError(f"no dbt manifest at {project.manifest_path}: run `stigma-insights prepare`")
    return DbtSteps(*(_dbt_step(project, name, select) for name, select in DBT_STEP_SELECTIONS.items()))
