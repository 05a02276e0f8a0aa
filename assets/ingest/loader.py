"""Load landed files into DuckDB raw tables, set-based, with provenance, rejects and a load ledger.

Python only reads bytes (readers.py: NDJSON lines and table rows in blocks, the next block read while
DuckDB stores this one; API pages whole). JSON parsing, validation, hashing and inserting happen in
DuckDB, set by set. A file loads in one transaction (small documents share one, a few hundred at a
time), so a crash leaves it either fully loaded or not at all, and the ledger makes a second load of
the same bytes a no-op.
Exact duplicate records (same content hash) are counted, not stored twice.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from stigma_insights.assets.ingest.formats import SourceFormat
from stigma_insights.assets.ingest.readers import (
    RefusedFile,
    decode_landed_bytes,
    file_sha256,
    ndjson_line_blocks,
    table_row_blocks,
)
from stigma_insights.assets.warehouse_tables import RAW_LEDGER_DDL, RAW_TABLE_DDL
from stigma_insights.crash_points import RAW_LOAD_BEFORE_COMMIT, crash_point
from stigma_insights.read_ahead import read_ahead
from stigma_insights.registered import registered

# JSON documents are loaded in transactions of about this many landed bytes (a file alone if larger).
DOCUMENT_BATCH_BYTES = 32 * 2**20


@dataclass(frozen=True)
class LoadResult:
    source_file: str
    status: str  # loaded | refused | already_loaded
    records_read: int = 0
    records_loaded: int = 0
    records_rejected: int = 0
    records_duplicate: int = 0
    refusal_reason: str | None = None


def ensure_raw_tables(conn: duckdb.DuckDBPyConnection, source: SourceFormat) -> None:
    conn.execute(RAW_LEDGER_DDL)
    conn.execute(RAW_TABLE_DDL.format(table=source.raw_table))


def landed_files(source: SourceFormat, folder: Path) -> list[Path]:
    """The files of one source's landing folder, in name order so loads are reproducible."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(source.suffixes))


def unplaced_files(source: SourceFormat, folder: Path) -> dict[str, str]:
    """Files of the landing folder the loader cannot place (their names end in none of the format's
    suffixes), each with why it is skipped: said aloud, never dropped in silence."""
    if not folder.is_dir():
        return {}
    placed = set(landed_files(source, folder))
    why = f"not a {source.name} file: its name ends in none of {', '.join(source.suffixes)}"
    return {
        str(p): why for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".") and p not in placed
    }


def rejects_by_file(conn: duckdb.DuckDBPyConnection, source: SourceFormat, files: list[str]) -> dict[str, dict]:
    """Per file, the records its latest load rejected, counted by reason (raw.rejects has each one)."""
    if not files:
        return {}
    rows = conn.execute(
        """select rejects.source_file, rejects.reason, count(*)
           from raw.rejects as rejects
           join (select source_file, max(loaded_at) as loaded_at from raw.load_log
                 where source_format = $source group by all) as latest using (source_file, loaded_at)
           where rejects.source_format = $source and rejects.source_file in (select unnest($files))
           group by all order by all""",
        {"source": source.name, "files": files},
    ).fetchall()
    found: dict[str, dict] = {}
    for source_file, reason, count in rows:
        found.setdefault(source_file, {})[reason] = count
    return found


# Each item comes with the file it was read from; `file_order` ranks the files of a set, so that of several
# copies of a record the first, in file order and then item order, is the one stored.
LANDED_LINES_ITEMS_SQL = """
    select $source_file as source_file, 0 as file_order, ordinal, $position_unit || ' ' || ordinal as source_position,
           line as original_text, case when read_problem is null and json_valid(line) then line end as item,
           read_problem, sha256(line) as content_sha256
    from landed_lines
"""


def _landed_documents_items_sql(source: SourceFormat) -> str:
    """The items of every document in `landed_documents` (file_order, source_file, text), at each item path."""
    per_path = [
        f"""select source_file, file_order, {index}::bigint * 1000000000 + ordinal as ordinal,
                   '{path} #' || ordinal as source_position,
                   item::varchar as original_text, item,
                   NULL::varchar as read_problem,  -- a document with invalid UTF-8 is refused whole
                   sha256(item::varchar) as content_sha256
            from (
                -- unnested in the select list: a lateral join copies the document's text for every item
                -- (20 MB of Reddit API pages needed 2-4 GB of memory that way)
                select source_file, file_order, unnest(items) as item, generate_subscripts(items, 1) as ordinal
                from (select source_file, file_order, json_extract(text::json, '{path}') as items from landed_documents)
            )"""
        for index, path in enumerate(source.item_paths)
    ]
    return " union all ".join(per_path)


def _checked_items_sql(source: SourceFormat, items_sql: str) -> str:
    """Every item of `items_sql` with its entity, id and, when it cannot be kept, the reason.

    Each JSON function parses the whole item again, so the id and creation time come out of one
    extraction, and the object test (a further parse) runs only for items that are rejected anyway
    (a CASE evaluates a branch only for the rows that reach it)."""
    id_and_created = " ".join(
        f"when '{entity}' then json_extract_string(item, ['{id_path}', '{created_path}'])"
        for entity, (id_path, created_path) in source.required_paths.items()
    )
    return f"""
        with items as ({items_sql}),
        classified as (
            select *, {source.entity_sql} as entity from items
        ),
        identified as (
            select * exclude (required), required[1] as record_id, required[2] as created_raw
            from (select *, case entity {id_and_created} end as required from classified)
        )
        select source_file, file_order, ordinal, source_position, original_text, entity, record_id,
               content_sha256,
               case
                   when read_problem is not null then read_problem
                   when item is null then 'invalid JSON'
                   when entity is not null and coalesce(record_id, '') <> ''
                        and ({source.created_sql}) is not null then NULL
                   when json_type(item) <> 'OBJECT'
                       then 'JSON value is not an object (' || json_type(item) || ')'
                   when entity is null then {source.unsupported_reason_sql}
                   when coalesce(record_id, '') = '' then 'missing id for ' || entity
                   else 'missing or unreadable creation time for ' || entity
               end as reject_reason
        from identified
    """


def load_file(conn: duckdb.DuckDBPyConnection, source: SourceFormat, path: Path) -> LoadResult:
    """Load one landed file in one transaction; a file whose bytes were loaded before is skipped."""
    (result,) = _load_in_one_transaction(conn, source, [path])
    return result


def _load_in_one_transaction(
    conn: duckdb.DuckDBPyConnection, source: SourceFormat, paths: list[Path]
) -> list[LoadResult]:
    conn.begin()
    try:
        if source.is_document:
            results = _load_documents(conn, source, paths)
        else:
            (path,) = paths  # alone in its transaction: a refusal mid-stream rolls back what it inserted
            results = [_load_streamed(conn, source, path)]
        crash_point(RAW_LOAD_BEFORE_COMMIT)
        conn.commit()
    except Exception:
        conn.rollback()
        raise
    return results


def _loaded_before(conn, source: SourceFormat, file_hashes: list[str]) -> set[str]:
    """Which of these files' hashes the ledger holds: one query however many files (on a lake each statement
    reads the catalog's state, 0.2 s at 10M)."""
    loaded = conn.execute(
        "select file_sha256 from raw.load_log where source_format = ? and file_sha256 in (select unnest(?))",
        [source.name, file_hashes],
    ).fetchall()
    return {sha256 for (sha256,) in loaded}


def _log(conn, source: SourceFormat, result: LoadResult, sha256: str, loaded_at: datetime) -> None:
    conn.execute(
        "insert into raw.load_log values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            source.name,
            result.source_file,
            sha256,
            result.status,
            result.refusal_reason,
            result.records_read,
            result.records_loaded,
            result.records_rejected,
            result.records_duplicate,
            loaded_at,
        ],
    )


def _load_streamed(conn, source: SourceFormat, path: Path) -> LoadResult:
    """An NDJSON or table file, block by block, in a transaction of its own."""
    sha256 = file_sha256(path)
    if _loaded_before(conn, source, [sha256]):
        return LoadResult(source_file=str(path), status="already_loaded")
    loaded_at = datetime.now(UTC)
    is_table = source.layout == "table"
    blocks = table_row_blocks(path, source) if is_table else ndjson_line_blocks(path)
    params = {"source_file": str(path), "position_unit": "row" if is_table else "line"}
    try:
        counts = [
            _load_item_set(conn, source, loaded_at, LANDED_LINES_ITEMS_SQL, block, params).get(str(path), (0, 0, 0, 0))
            for block in read_ahead(blocks)
        ]
        read, loaded, rejected, duplicate = (sum(column) for column in zip((0, 0, 0, 0), *counts, strict=True))
        result = LoadResult(str(path), "loaded", read, loaded, rejected, duplicate)
    except RefusedFile as refusal:
        conn.rollback()  # records of blocks read before the refusal go too
        conn.begin()
        result = _refuse(conn, source, path, str(refusal), sha256, loaded_at)
    _log(conn, source, result, sha256, loaded_at)
    return result


def _load_documents(conn, source: SourceFormat, paths: list[Path]) -> list[LoadResult]:
    """Documents checked one by one (a refused one is refused whole, before anything of it is written), the
    items of the others loaded as one set: one look at what is stored already, one write per table."""
    loaded_at = datetime.now(UTC)
    results: dict[Path, LoadResult] = {}
    accepted: list[tuple[Path, str, str]] = []  # (path, sha256, text)
    file_hashes = {path: file_sha256(path) for path in paths}
    seen = _loaded_before(conn, source, list(file_hashes.values()))
    for path, sha256 in file_hashes.items():
        if sha256 in seen:
            results[path] = LoadResult(source_file=str(path), status="already_loaded")
            continue
        seen.add(sha256)
        try:
            accepted.append((path, sha256, _document_text(conn, source, path)))
        except RefusedFile as refusal:
            results[path] = _refuse(conn, source, path, str(refusal), sha256, loaded_at)
            _log(conn, source, results[path], sha256, loaded_at)
    if accepted:
        documents = pa.table(
            {
                "file_order": list(range(len(accepted))),
                "source_file": [str(path) for path, _, _ in accepted],
                "text": [text for _, _, text in accepted],
            }
        )
        counts = _load_item_set(conn, source, loaded_at, _landed_documents_items_sql(source), documents)
        for path, sha256, _ in accepted:
            results[path] = LoadResult(str(path), "loaded", *counts.get(str(path), (0, 0, 0, 0)))
            _log(conn, source, results[path], sha256, loaded_at)
    return [results[path] for path in paths]


def _document_text(conn, source: SourceFormat, path: Path) -> str:
    """The document's text, or RefusedFile saying why the whole file is refused."""
    text, has_invalid_utf8 = decode_landed_bytes(path)
    if has_invalid_utf8:
        raise RefusedFile(f"{path.name} holds invalid UTF-8 bytes")
    (is_json,) = conn.execute("select json_valid($text)", {"text": text}).fetchone()
    if not is_json:
        raise RefusedFile(f"{path.name} is not a valid JSON document")
    (error,) = conn.execute(
        f"select {source.document_error_sql} from (select $text::json as doc)", {"text": text}
    ).fetchone()
    if error:
        raise RefusedFile(f"{path.name}: {error}")
    return text


def _load_item_set(
    conn,
    source: SourceFormat,
    loaded_at: datetime,
    items_sql: str,
    landed: pa.Table,
    params: dict | None = None,
) -> dict[str, tuple[int, int, int, int]]:
    """Check one set of items (`landed`: the lines or documents they come from), store the new ones and the
    rejects; per source file, (read, loaded, rejected, duplicate).

    The counts are taken before the insert, which must then store exactly the records counted as new:
    the ledger's balance read = loaded + rejected + duplicate is a check that can fail."""
    landed_name = "landed_documents" if source.is_document else "landed_lines"
    with registered(conn, landed_name, landed):
        # Of several copies of a record in the set, the first (in file order, then item order) is the one kept.
        conn.execute(
            f"""create or replace temp table checked_items as
                select *, row_number() over (
                    partition by content_sha256, reject_reason is null order by file_order, ordinal
                ) > 1 as repeated_in_this_set
                from ({_checked_items_sql(source, items_sql)})""",
            params or {},
        )
    # The set's records stored already: a semi join probes the raw table with the set's hashes (where `in
    # (select ... from raw)` would build a hash table of every stored hash, twice per set).
    conn.execute(
        f"""create or replace temp table stored_items as
            select content_sha256 from {source.raw_table} semi join checked_items using (content_sha256)"""
    )
    counts = conn.execute(
        """
        select
            source_file,
            count(*),
            count(*) filter (where reject_reason is null and not already_stored and not repeated_in_this_set),
            count(*) filter (where reject_reason is not null),
            count(*) filter (where reject_reason is null and (already_stored or repeated_in_this_set))
        from (
            select
                source_file,
                reject_reason,
                content_sha256 in (select content_sha256 from stored_items) as already_stored,
                repeated_in_this_set
            from checked_items
        )
        group by source_file
        """
    ).fetchall()
    (inserted,) = conn.execute(
        f"""
        insert into {source.raw_table}
        select entity, record_id, original_text::json, source_file, source_position, content_sha256, $loaded_at
        from checked_items
        where reject_reason is null
          and not repeated_in_this_set
          and content_sha256 not in (select content_sha256 from stored_items)
        """,
        {"loaded_at": loaded_at},
    ).fetchone()
    if inserted != sum(new for _, _, new, _, _ in counts):
        raise RuntimeError(f"{source.name}: stored {inserted} records, counted {counts} as new")
    conn.execute(
        """
        insert into raw.rejects
        select $source_format, source_file, source_position, reject_reason, original_text,
               content_sha256, $loaded_at
        from checked_items c
        where reject_reason is not null
          and not exists (
              select 1 from raw.rejects r
              where r.source_file = c.source_file and r.source_position = c.source_position
                and r.original_sha256 = c.content_sha256
          )
        """,
        {"source_format": source.name, "loaded_at": loaded_at},
    )
    conn.execute("drop table checked_items; drop table stored_items")
    return {source_file: tuple(numbers) for source_file, *numbers in counts}


def _refuse(conn, source: SourceFormat, path: Path, reason: str, file_sha256: str, loaded_at: datetime) -> LoadResult:
    conn.execute(
        "insert into raw.rejects values (?, ?, 'file', ?, NULL, ?, ?)",
        [source.name, str(path), reason, file_sha256, loaded_at],
    )
    return LoadResult(source_file=str(path), status="refused", refusal_reason=reason)


def transaction_batches(source: SourceFormat, paths: list[Path]) -> list[list[Path]]:
    """Files loaded together in one transaction. NDJSON files alone: one may be gigabytes, and a refusal
    found mid-stream rolls back what it inserted. Documents (API pages of a few hundred kB) in runs of
    about DOCUMENT_BATCH_BYTES, their items one set: a collection lands thousands of pages, and each set
    costs a look at every stored record's hash and, on a DuckLake, new Parquet files per table."""
    if not source.is_document:
        return [[path] for path in paths]
    batches: list[list[Path]] = []
    batch_bytes = DOCUMENT_BATCH_BYTES
    for path in paths:
        size = path.stat().st_size
        if batch_bytes + size > DOCUMENT_BATCH_BYTES:
            batches.append([])
            batch_bytes = 0
        batches[-1].append(path)
        batch_bytes += size
    return batches


def load_landing_folder(conn: duckdb.DuckDBPyConnection, source: SourceFormat, folder: Path) -> list[LoadResult]:
    ensure_raw_tables(conn, source)
    batches = transaction_batches(source, landed_files(source, folder))
    return [result for batch in batches for result in _load_in_one_transaction(conn, source, batch)]
