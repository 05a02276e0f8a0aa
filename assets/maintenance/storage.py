"""Storage upkeep of the warehouse, plain Python over a DuckDB connection to it.

A DuckLake grows with every run: each insert writes Parquet files (or, if small, rows inlined in the
catalog), and each table dbt rebuilds leaves its old files to the snapshots that read them, which
DuckLake keeps until they expire. DuckLake's CHECKPOINT runs its maintenance in order: it flushes rows
inlined in the catalog to Parquet, expires snapshots older than the retention, merges adjacent small
files, rewrites files with many deleted rows and deletes the files nothing references (those
unreferenced for longer than the retention). On the single DuckDB file a checkpoint writes the log
into the file; its block counts show the space that a copy of the database would give back.
"""

import duckdb

from stigma_insights.lake import LAKE_ALIAS, sql_string
from stigma_insights.settings import LAKE_RETENTION_ENV

LAKE_CATALOG = f"__ducklake_metadata_{LAKE_ALIAS}"  # the lake's catalog tables, attached with it


def lake_footprint(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """What the lake holds: the Parquet files of its current tables, their bytes, its snapshots, and files
    no snapshot reads any more that wait for their deletion."""
    names = ("data_files", "data_bytes", "snapshots", "files_awaiting_deletion")
    [row] = conn.execute(
        f"""
        select
            (select count(*) from {LAKE_CATALOG}.ducklake_data_file where end_snapshot is null),
            (select coalesce(sum(file_size_bytes), 0) from {LAKE_CATALOG}.ducklake_data_file
             where end_snapshot is null),
            (select count(*) from {LAKE_CATALOG}.ducklake_snapshot),
            (select count(*) from {LAKE_CATALOG}.ducklake_files_scheduled_for_deletion)
        """
    ).fetchall()
    return dict(zip(names, row, strict=True))


def maintain_lake(conn: duckdb.DuckDBPyConnection, retention: str) -> dict[str, dict[str, int]]:
    """DuckLake's CHECKPOINT with snapshots and unreferenced files kept for `retention`; the footprint
    before and after."""
    try:
        conn.execute("select ?::interval", [retention])
    except duckdb.ConversionException as error:
        raise ValueError(f"{LAKE_RETENTION_ENV}={retention!r} is not a DuckDB interval (e.g. '7 days')") from error
    before = lake_footprint(conn)
    # Options stored in the catalog, read by CHECKPOINT: set every run, so a changed retention applies.
    for option in ("expire_older_than", "delete_older_than"):
        conn.execute(f"call {LAKE_ALIAS}.set_option('{option}', {sql_string(retention)})")
    conn.execute(f"checkpoint {LAKE_ALIAS}")
    return {"before": before, "after": lake_footprint(conn)}


def file_footprint(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """The DuckDB file's size in blocks: used, and free (space left by dropped or rebuilt tables)."""
    [(block_size, total, used, free)] = conn.execute(
        "select block_size, total_blocks, used_blocks, free_blocks from pragma_database_size()"
        " where database_name = current_database()"
    ).fetchall()
    return {"file_bytes": block_size * total, "used_bytes": block_size * used, "free_bytes": block_size * free}


def maintain_file(conn: duckdb.DuckDBPyConnection) -> dict[str, dict[str, int]]:
    before = file_footprint(conn)
    conn.execute("checkpoint")
    return {"before": before, "after": file_footprint(conn)}
