"""The warehouse on DuckLake, opt-in (`STIGMA_INSIGHTS_LAKE`): the same schemas and tables, kept as Parquet
files under a catalog (a DuckDB file on one machine, PostgreSQL for several writers) instead of one
DuckDB file.

Every warehouse connection, the Python assets' and dbt's, is an in-memory DuckDB that attaches the lake
as `lake` and makes it the default database, so the code's `schema.table` names mean the same in both
layouts. The DuckLake extension comes from its wheel (duckdb-extension-ducklake, built for duckdb 1.5.5
exactly) and is loaded from that file: nothing is downloaded.

A catalog in a DuckDB file admits one process at a time, and one attachment per process (as the single
warehouse file does: the warehouse pool keeps steps apart); a PostgreSQL catalog admits several writers.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files

import duckdb

from stigma_insights.settings import LakeSettings, Settings

LAKE_ALIAS = "lake"
# A writer that loses a commit race with another (DuckLake's optimistic concurrency) retries this often.
MAX_COMMIT_RETRIES = 100


def extension_file(package: str, name: str) -> str:
    """The extension binary inside its wheel (one per DuckDB version: the one this duckdb loads)."""
    return str(files(package) / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension")


def load_lake_extensions(conn: duckdb.DuckDBPyConnection, catalog: str) -> None:
    conn.execute(f"load '{extension_file('duckdb_extension_ducklake', 'ducklake')}'")
    if catalog.startswith("ducklake:postgres:"):
        conn.execute(f"load '{extension_file('duckdb_extension_postgres_scanner', 'postgres_scanner')}'")


def attach_lake(conn: duckdb.DuckDBPyConnection, lake: LakeSettings, read_only: bool = False) -> None:
    """Attach the lake to this connection as its default database (the extensions loaded first)."""
    load_lake_extensions(conn, lake.catalog)
    options = [f"data_path '{lake.data_path}'", *(["read_only"] if read_only else [])]
    conn.execute(f"attach if not exists '{lake.catalog}' as {LAKE_ALIAS} ({', '.join(options)})")
    conn.execute(f"use {LAKE_ALIAS}")
    conn.execute(f"set ducklake_max_retry_count = {MAX_COMMIT_RETRIES}")


@contextmanager
def warehouse_connection(settings: Settings, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the warehouse outside Dagster (the CLI, benchmarks): its file, or the lake."""
    if settings.lake is None:
        with duckdb.connect(str(settings.warehouse), read_only=read_only) as conn:
            yield conn
        return
    with duckdb.connect() as conn:
        attach_lake(conn, settings.lake, read_only)
        yield conn
