"""Where the warehouse and the landing files live. Environment variables override the defaults."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"

WAREHOUSE_ENV = "STIGMA_INSIGHTS_DUCKDB"
LANDING_ENV = "STIGMA_INSIGHTS_LANDING"
DEFAULT_WAREHOUSE = REPO_ROOT / "data" / "warehouse.duckdb"
DEFAULT_LANDING = REPO_ROOT / "data" / "landing"

# Every asset that writes to the warehouse runs in this Dagster concurrency pool: DuckDB allows one
# writing process per file.
WAREHOUSE_WRITER_POOL = "duckdb_warehouse_writer"


def warehouse_path() -> Path:
    """The warehouse file, made absolute and exported for the dbt subprocess (profiles.yml reads it)."""
    path = Path(os.environ.get(WAREHOUSE_ENV) or DEFAULT_WAREHOUSE).expanduser().resolve()
    os.environ[WAREHOUSE_ENV] = str(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def landing_path() -> Path:
    return Path(os.environ.get(LANDING_ENV) or DEFAULT_LANDING).expanduser().resolve()
