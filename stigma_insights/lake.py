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

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib.resources import files
from urllib.parse import urlsplit

import duckdb

from stigma_insights.settings import LakeSettings, Settings

LAKE_ALIAS = "lake"
# A writer that loses a commit race with another (DuckLake's optimistic concurrency) retries this often.
MAX_COMMIT_RETRIES = 100
# Inserts of up to this many rows are kept in the catalog, not written as a Parquet file each (DuckLake's
# data inlining): an API page, a ledger row, a batch of rejects. The storage upkeep writes them out.
INLINED_ROWS_MAX = 1000


def extension_file(package: str, name: str) -> str:
    """The extension binary inside its wheel (one per DuckDB version: the one this duckdb loads)."""
    return str(files(package) / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension")


def load_lake_extensions(conn: duckdb.DuckDBPyConnection, lake: LakeSettings) -> None:
    """DuckLake, and what its catalog and data path need: postgres_scanner, httpfs with an S3 secret."""
    conn.execute(f"load '{extension_file('duckdb_extension_ducklake', 'ducklake')}'")
    if lake.catalog.startswith("ducklake:postgres:"):
        conn.execute(f"load '{extension_file('duckdb_extension_postgres_scanner', 'postgres_scanner')}'")
    if lake.data_path.startswith("s3://"):
        conn.execute(f"load '{extension_file('duckdb_extension_httpfs', 'httpfs')}'")
        conn.execute(s3_secret_sql(os.environ))


def s3_secret_sql(environ: Mapping[str, str]) -> str:
    """The S3 secret from the AWS SDK's own variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION);
    AWS_ENDPOINT_URL points at an S3-compatible store (MinIO, Ceph, a test stand-in), path-style."""
    options = {
        "key_id": environ.get("AWS_ACCESS_KEY_ID", ""),
        "secret": environ.get("AWS_SECRET_ACCESS_KEY", ""),
        "region": environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1",
    }
    if endpoint := environ.get("AWS_ENDPOINT_URL"):
        url = urlsplit(endpoint)
        options |= {"endpoint": url.netloc, "url_style": "path", "use_ssl": str(url.scheme == "https").lower()}
    rendered = ", ".join(
        f"{name} {value if name == 'use_ssl' else sql_string(value)}" for name, value in options.items()
    )
    return f"create or replace secret stigma_insights_lake_s3 (type s3, {rendered})"


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def attach_lake(conn: duckdb.DuckDBPyConnection, lake: LakeSettings, read_only: bool = False) -> None:
    """Attach the lake to this connection as its default database (the extensions loaded first)."""
    load_lake_extensions(conn, lake)
    options = [
        f"data_path {sql_string(lake.data_path)}",
        f"data_inlining_row_limit {INLINED_ROWS_MAX}",
        *(["read_only"] if read_only else []),
    ]
    conn.execute(f"attach if not exists {sql_string(lake.catalog)} as {LAKE_ALIAS} ({', '.join(options)})")
    conn.execute(f"use {LAKE_ALIAS}")
    conn.execute(f"set ducklake_max_retry_count = {MAX_COMMIT_RETRIES}")


@contextmanager
def warehouse_connection(settings: Settings, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the warehouse outside Dagster (the CLI, benchmarks): its file, or the lake. Plain
    duckdb.connect, not the Dagster resource's connection: that one sets its own configuration, and DuckDB
    refuses a second in-process connection to a file opened with another."""
    if settings.lake is None:
        with duckdb.connect(str(settings.warehouse), read_only=read_only) as conn:
            yield conn
        return
    with duckdb.connect() as conn:
        attach_lake(conn, settings.lake, read_only)
        yield conn
