"""Load landed files into DuckDB raw tables, set-based, with provenance, rejects and a load ledger.

Per file, Python only reads the bytes (and undoes zstd); splitting, JSON parsing, validation,
hashing and inserting happen in one DuckDB statement each. A file loads in one transaction, so a
crash leaves it either fully loaded or not at all, and the ledger makes a second load of the same
bytes a no-op. Exact duplicate records (same content hash) are counted, not stored twice.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import zstandard

from assets.ingest.formats import SourceFormat

# Pushshift / Arctic Shift dumps are compressed with a 2 GiB window (zstd --long=31).
ZSTD_MAX_WINDOW = 2**31
# Leading bytes of files that are certainly not JSON text, with what they are.
FOREIGN_SIGNATURES = {
    b"PK\x03\x04": "a zip archive",
    b"\x1f\x8b": "a gzip file",
    b"%PDF": "a PDF document",
}

RAW_LEDGER_DDL = """
create schema if not exists raw;
create table if not exists raw.load_log (
    source_format varchar not null,
    source_file varchar not null,
    file_sha256 varchar not null,
    status varchar not null,          -- loaded | refused
    refusal_reason varchar,
    records_read bigint not null,
    records_loaded bigint not null,
    records_rejected bigint not null,
    records_duplicate bigint not null,
    loaded_at timestamptz not null
);
create table if not exists raw.rejects (
    source_format varchar not null,
    source_file varchar not null,
    source_position varchar not null,
    reason varchar not null,
    original_text varchar,
    original_sha256 varchar not null,
    loaded_at timestamptz not null
);
"""

RAW_TABLE_DDL = """
create table if not exists {table} (
    entity varchar not null,
    record_id varchar not null,
    record json not null,
    source_file varchar not null,
    source_position varchar not null,
    content_sha256 varchar not null,
    loaded_at timestamptz not null
)
"""


class RefusedFile(Exception):
    """The file is not what its landing folder says it is; it is refused whole."""


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


def decode_landed_bytes(path: Path, data: bytes) -> tuple[str, bool]:
    """The file's text and whether it held invalid UTF-8 (those bytes become U+FFFD)."""
    if path.suffix == ".zst":
        try:
            reader = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW).stream_reader(data)
            data = reader.read()
        except zstandard.ZstdError as error:
            raise RefusedFile(f"{path.name} is not a readable zstd file: {error}") from error
    for signature, what in FOREIGN_SIGNATURES.items():
        if data.startswith(signature):
            raise RefusedFile(f"{path.name} is {what}, not JSON text")
    if data.lstrip()[:1] == b"<":
        raise RefusedFile(f"{path.name} looks like HTML or XML (starts with '<'), not JSON text")
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="replace"), True


def _items_sql(source: SourceFormat) -> str:
    """SQL yielding (ordinal, source_position, original_text, item) from the text in $text."""
    if not source.is_document:
        return """
            select ordinal, 'line ' || ordinal as source_position, line as original_text,
                   case when json_valid(line) then line::json end as item
            from (
                select rtrim(line, chr(13)) as line, ordinal
                from unnest(string_split($text, chr(10))) with ordinality as lines(line, ordinal)
            )
            where trim(line) <> ''
        """
    per_path = [
        f"""select {index} * 1000000000 + ordinal as ordinal,
                   '{path} #' || ordinal as source_position,
                   item::varchar as original_text, item
            from unnest(json_extract($text::json, '{path}')) with ordinality as items(item, ordinal)"""
        for index, path in enumerate(source.item_paths)
    ]
    return " union all ".join(per_path)


def _checked_items_sql(source: SourceFormat) -> str:
    """Every item with its entity, id and, when it cannot be kept, the reason."""

    def by_entity(position: int) -> str:
        cases = " ".join(
            f"when '{entity}' then item->>'{paths[position]}'"
            for entity, paths in source.required_paths.items()
        )
        return f"case entity {cases} end"

    return f"""
        with items as ({_items_sql(source)}),
        classified as (
            select *, {source.entity_sql} as entity from items
        ),
        identified as (
            select *, {by_entity(0)} as record_id, {by_entity(1)} as created_raw from classified
        )
        select ordinal, source_position, original_text, item, entity, record_id,
               sha256(original_text) as content_sha256,
               case
                   when $has_invalid_utf8 and contains(original_text, chr(65533))
                       then 'invalid UTF-8 bytes'
                   when item is null then 'invalid JSON'
                   when json_type(item) <> 'OBJECT'
                       then 'JSON value is not an object (' || json_type(item) || ')'
                   when entity is null then {source.unsupported_reason_sql}
                   when coalesce(record_id, '') = '' then 'missing id for ' || entity
                   when try_cast(created_raw as double) is null
                       then 'missing or non-numeric creation time for ' || entity
               end as reject_reason
        from identified
    """


def load_file(conn: duckdb.DuckDBPyConnection, source: SourceFormat, path: Path) -> LoadResult:
    """Load one landed file in one transaction; a file whose bytes were loaded before is skipped."""
    data = path.read_bytes()
    file_sha256 = hashlib.sha256(data).hexdigest()
    already = conn.execute(
        "select 1 from raw.load_log where source_format = ? and file_sha256 = ?",
        [source.name, file_sha256],
    ).fetchone()
    if already:
        return LoadResult(source_file=str(path), status="already_loaded")

    loaded_at = datetime.now(timezone.utc)
    conn.begin()
    try:
        try:
            result = _load_items(conn, source, path, data, loaded_at)
        except RefusedFile as refusal:
            result = _refuse(conn, source, path, str(refusal), file_sha256, loaded_at)
        conn.execute(
            "insert into raw.load_log values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                source.name, str(path), file_sha256, result.status, result.refusal_reason,
                result.records_read, result.records_loaded, result.records_rejected,
                result.records_duplicate, loaded_at,
            ],
        )
        conn.commit()
    except Exception:
        conn.rollback()
        raise
    return result


def _load_items(
    conn, source: SourceFormat, path: Path, data: bytes, loaded_at: datetime
) -> LoadResult:
    text, has_invalid_utf8 = decode_landed_bytes(path, data)
    params = {"text": text, "has_invalid_utf8": has_invalid_utf8}
    if source.is_document:
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

    conn.execute(f"create or replace temp table checked_items as {_checked_items_sql(source)}", params)
    conn.execute(
        f"""
        insert into {source.raw_table}
        select entity, record_id, item, $source_file, source_position, content_sha256, $loaded_at
        from checked_items
        where reject_reason is null
          and content_sha256 not in (select content_sha256 from {source.raw_table})
        qualify row_number() over (partition by content_sha256 order by ordinal) = 1
        """,
        {"source_file": str(path), "loaded_at": loaded_at},
    )
    (loaded,) = conn.execute(
        f"select count(*) from {source.raw_table} where source_file = ? and loaded_at = ?",
        [str(path), loaded_at],
    ).fetchone()
    conn.execute(
        """
        insert into raw.rejects
        select $source_format, $source_file, source_position, reject_reason, original_text,
               content_sha256, $loaded_at
        from checked_items c
        where reject_reason is not null
          and not exists (
              select 1 from raw.rejects r
              where r.source_file = $source_file and r.source_position = c.source_position
                and r.original_sha256 = c.content_sha256
          )
        """,
        {"source_format": source.name, "source_file": str(path), "loaded_at": loaded_at},
    )
    read, rejected = conn.execute(
        "select count(*), count(*) filter (where reject_reason is not null) from checked_items"
    ).fetchone()
    conn.execute("drop table checked_items")
    return LoadResult(
        source_file=str(path),
        status="loaded",
        records_read=read,
        records_loaded=loaded,
        records_rejected=rejected,
        records_duplicate=read - rejected - loaded,
    )


def _refuse(
    conn, source: SourceFormat, path: Path, reason: str, file_sha256: str, loaded_at: datetime
) -> LoadResult:
    conn.execute(
        "insert into raw.rejects values (?, ?, 'file', ?, NULL, ?, ?)",
        [source.name, str(path), reason, file_sha256, loaded_at],
    )
    return LoadResult(source_file=str(path), status="refused", refusal_reason=reason)


def load_landing_folder(
    conn: duckdb.DuckDBPyConnection, source: SourceFormat, folder: Path
) -> list[LoadResult]:
    ensure_raw_tables(conn, source)
    return [load_file(conn, source, path) for path in landed_files(source, folder)]
