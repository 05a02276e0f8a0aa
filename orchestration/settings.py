"""Where the warehouse and the landing files live. Environment variables override the defaults."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"

WAREHOUSE_ENV = "STIGMA_INSIGHTS_DUCKDB"
LANDING_ENV = "STIGMA_INSIGHTS_LANDING"
PUBLISHED_ENV = "STIGMA_INSIGHTS_PUBLISHED"
DEFAULT_WAREHOUSE = REPO_ROOT / "data" / "warehouse.duckdb"
DEFAULT_LANDING = REPO_ROOT / "data" / "landing"
# Labelled files of real posts that every warehouse's annotation store starts from (see its README).
STARTER_ANNOTATIONS_DIR = REPO_ROOT / "data" / "annotations"

# Every asset and check that opens the warehouse runs in this Dagster concurrency pool (limit 1 in
# dagster_home/dagster.yaml): a DuckDB file admits one process while any process writes to it.
WAREHOUSE_POOL = "duckdb_warehouse"


def warehouse_path() -> Path:
    """The warehouse file, made absolute and exported for the dbt subprocess (profiles.yml reads it)."""
    path = Path(os.environ.get(WAREHOUSE_ENV) or DEFAULT_WAREHOUSE).expanduser().resolve()
    os.environ[WAREHOUSE_ENV] = str(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def landing_path() -> Path:
    return Path(os.environ.get(LANDING_ENV) or DEFAULT_LANDING).expanduser().resolve()


def published_path() -> Path:
    """The analysts' read-only copy of the marts; by default beside the warehouse, named after it."""
    if os.environ.get(PUBLISHED_ENV):
        return Path(os.environ[PUBLISHED_ENV]).expanduser().resolve()
    warehouse = warehouse_path()
    return warehouse.with_name(f"{warehouse.stem}_published.duckdb")
