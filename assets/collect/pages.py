"""Landing pages as the platforms returned them, and the collectors' resumable state in the warehouse.

A page is one landing file in the folder of the format the loaders already read, written under a
temporary name and renamed (a killed run leaves no half file), with the request that fetched it in a
`.request` file beside it (a suffix no loader reads). State per query lives in the table
`collect.state` of the source's state database, updated after every page, so a failed run resumes
where it stopped.
"""

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from stigma_insights.assets.warehouse_tables import COLLECT_STATE_DDL
from stigma_insights.atomic_file import write_atomically


@dataclass
class PageWriter:
    """Writes pages into one landing folder, named by collector run (time and a random id) and page:
    two runs never share a name, so a page is never overwritten."""

    folder: Path
    prefix: str
    pages: int = 0
    written: list[Path] = field(default_factory=list)
    run_id: str = field(default_factory=lambda: f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}")

    def write(self, name: str, body: bytes, request: dict, suffix: str = ".json") -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.pages += 1
        path = self.folder / f"{self.prefix}_{self.run_id}_{name}_p{self.pages:04d}{suffix}"
        if path.exists():
            raise FileExistsError(f"{path} exists: landing pages are never overwritten")
        record = {**request, "fetched_at": datetime.now(UTC).isoformat(), "bytes": len(body)}
        write_atomically(path.with_name(path.name + ".request"), json.dumps(record, indent=1).encode())
        write_atomically(path, body)
        self.written.append(path)
        return path


def collect_state_file(warehouse: Path, source: str) -> Path:
    """The source's state database, beside the warehouse (`data/warehouse_collect/tiktok.duckdb`).

    Not in the warehouse file itself: DuckDB admits one writing process per file, and collecting is
    network-bound (a backfill under a daily quota takes hours); it must not hold the warehouse's single
    writer slot, nor wait for it. One file per API, as each API has its own Dagster pool."""
    return warehouse.with_name(f"{warehouse.stem}_collect") / f"{source}.duckdb"


class CollectState:
    """Per (source, query) JSON state and per (source, UTC day) quota use, in the source's state database."""

    def __init__(self, warehouse: Path, source: str):
        self.database, self.source = collect_state_file(warehouse, source), source
        self.database.parent.mkdir(parents=True, exist_ok=True)
        with duckdb.connect(str(self.database)) as conn:
            conn.execute(COLLECT_STATE_DDL)

    def get(self, query_key: str) -> dict:
        with duckdb.connect(str(self.database), read_only=True) as conn:
            row = conn.execute(
                "select state from collect.state where source = ? and query_key = ?", [self.source, query_key]
            ).fetchone()
        return json.loads(row[0]) if row else {}

    def put(self, query_key: str, state: dict) -> None:
        with duckdb.connect(str(self.database)) as conn:
            conn.execute(
                "insert or replace into collect.state values (?, ?, ?, now())",
                [self.source, query_key, json.dumps(state)],
            )

    def quota_used(self, day: str) -> tuple[int, int, bool]:
        """Requests sent and records received on that UTC day, and whether the platform refused one."""
        with duckdb.connect(str(self.database), read_only=True) as conn:
            row = conn.execute(
                "select requests, records, refused from collect.quota where source = ? and day = ?", [self.source, day]
            ).fetchone()
        return (row[0], row[1], bool(row[2])) if row else (0, 0, False)

    def spend(self, day: str, requests: int, records: int, refused: bool = False) -> None:
        with duckdb.connect(str(self.database)) as conn:
            conn.execute(
                "insert into collect.quota values (?, ?, ?, ?, ?) on conflict (source, day) do update set"
                " requests = collect.quota.requests + excluded.requests,"
                " records = collect.quota.records + excluded.records,"
                " refused = collect.quota.refused or excluded.refused",
                [self.source, day, requests, records, refused],
            )
