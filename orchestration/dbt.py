"""The dbt project as Dagster assets, split at the Python labels asset and at the blocking checks.

Three dbt steps: clean and unify (seeds, staging, intermediate), then the labelled fact table
(after the labels asset), then the aggregates (after the fact table's blocking checks pass).
"""

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from orchestration.settings import DBT_PROJECT_DIR, WAREHOUSE_POOL, warehouse_path

warehouse_path()  # dbt's profile reads the exported path, also when parsing
# dagster-dbt looks for `dbt` on PATH; use the one installed beside this interpreter (the venv's).
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def _manifest_is_stale() -> bool:
    """No manifest yet (a fresh checkout), or a project file changed after the last parse."""
    if not dbt_project.manifest_path.exists():
        return True
    parsed_at = dbt_project.manifest_path.stat().st_mtime
    project_files = [DBT_PROJECT_DIR / "dbt_project.yml", *(
        path
        for folder in ("models", "macros", "seeds", "tests")
        for path in (DBT_PROJECT_DIR / folder).rglob("*")
    )]
    return any(path.stat().st_mtime > parsed_at for path in project_files if path.is_file())


# `dagster dev` prepares on every load; the CLI, tests and CI parse only when the project changed.
dbt_project.prepare_if_dev()
if _manifest_is_stale():
    dbt_project.preparer.prepare(dbt_project)


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


def _dbt_step(name: str, select: str, description: str) -> dg.AssetsDefinition:
    @dbt_assets(
        manifest=dbt_project.manifest_path,
        project=dbt_project,
        select=select,
        name=name,
        dagster_dbt_translator=WarehouseTranslator(),
        pool=WAREHOUSE_POOL,
    )
    def _assets(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig):
        yield from dbt.cli(["build", *(["--full-refresh"] if config.full_refresh else [])], context=context).stream()

    _assets.__doc__ = description
    return _assets


dbt_clean_and_unify = _dbt_step(
    "dbt_clean_and_unify",
    "resource_type:seed path:models/staging path:models/intermediate",
    "Seeds, one staging view per source, and the unified de-duplicated posts table.",
)
dbt_labelled_fact = _dbt_step(
    "dbt_labelled_fact", "fct_labelled_posts", "Posts joined with their labels: the labelled fact table."
)
dbt_aggregates = _dbt_step(
    "dbt_aggregates", "path:models/marts/aggregates", "Aggregate marts with counts, shares and intervals."
)
DBT_STEPS = (dbt_clean_and_unify, dbt_labelled_fact, dbt_aggregates)
