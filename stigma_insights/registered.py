"""Python data (Arrow tables and datasets, data frames) visible to a DuckDB connection's SQL by name."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb


@contextmanager
def registered(conn: duckdb.DuckDBPyConnection, name: str, rows: Any) -> Iterator[None]:
    """`rows` readable as the view `name` while the block runs."""
    conn.register(name, rows)
    try:
        yield
    finally:
        conn.unregister(name)


def replace_table(conn: duckdb.DuckDBPyConnection, table: str, rows: Any) -> None:
    """Create (or replace) `table` with exactly `rows`."""
    with registered(conn, "new_rows", rows):
        conn.execute(f"create or replace table {table} as select * from new_rows")
