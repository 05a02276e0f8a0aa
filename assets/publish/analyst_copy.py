"""Publish the analyst-facing marts to a separate DuckDB file, swapped in atomically.

Analysts open the published file read-only: they never contend for the warehouse's single writer
lock, and a reader sees either the previous complete copy or the new one, never a half-run.
"""

import os
from pathlib import Path

import duckdb

ANALYST_SCHEMA = "marts"


def publish_marts(conn: duckdb.DuckDBPyConnection, target: Path) -> dict[str, int]:
    """Copy every table of the marts schema into `target` (built beside it, then renamed over it)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.building")
    staging.unlink(missing_ok=True)
    tables = [
        row[0]
        for row in conn.execute(
            "select table_name from duckdb_tables() where schema_name = ? and database_name = current_database()"
            " order by table_name",
            [ANALYST_SCHEMA],
        ).fetchall()
    ]
    conn.execute(f"attach '{staging}' as published")
    try:
        conn.execute(f"create schema published.{ANALYST_SCHEMA}")
        for table in tables:
            conn.execute(f"create table published.{ANALYST_SCHEMA}.{table} as select * from {ANALYST_SCHEMA}.{table}")
        _copy_comments(conn, tables)
        counts = {
            table: conn.execute(f"select count(*) from published.{ANALYST_SCHEMA}.{table}").fetchall()[0][0]
            for table in tables
        }
    finally:
        conn.execute("detach published")
    os.replace(staging, target)  # atomic on one file system: readers see the old file or the new one
    return counts


def _copy_comments(conn: duckdb.DuckDBPyConnection, tables: list[str]) -> None:
    """The dbt descriptions (persisted as comments) go with the tables: analysts read them in duckdb_columns()."""
    target = f"published.{ANALYST_SCHEMA}"
    for table, comment in conn.execute(
        "select table_name, comment from duckdb_tables() where schema_name = ? and database_name = current_database()"
        " and comment is not null",
        [ANALYST_SCHEMA],
    ).fetchall():
        conn.execute(f"comment on table {target}.{table} is {_literal(comment)}")
    for table, column, comment in conn.execute(
        "select table_name, column_name, comment from duckdb_columns() where schema_name = ?"
        " and database_name = current_database() and comment is not null",
        [ANALYST_SCHEMA],
    ).fetchall():
        if table in tables:
            conn.execute(f'comment on column {target}.{table}."{column}" is {_literal(comment)}')


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
