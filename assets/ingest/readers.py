"""Landed files' bytes to items: what the loader hands DuckDB, block by block.

NDJSON files are streamed (zstd undone on the fly) in blocks of lines as Arrow arrays, so memory stays
bounded whatever the file size; JSON documents (API pages) are read whole; tables (CSV, Parquet) are
streamed in blocks of rows, each row as the JSON object of its columns. A file that is not what its
landing folder says is refused whole (RefusedFile); an item that cannot be read carries its problem.
"""

import csv
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from stigma_insights.assets.ingest.formats import SourceFormat

# Pushshift / Arctic Shift dumps are compressed with a 2 GiB window (zstd --long=31).
ZSTD_MAX_WINDOW = 2**31
# NDJSON is read in blocks of this many bytes (decompressed): the bound on the loader's memory.
BLOCK_BYTES = 32 * 2**20
ARROW_BATCH_ROWS = 32_768
# Tables (CSV, Parquet) are read in blocks of this many rows.
TABLE_BLOCK_ROWS = 65_536
PARQUET_MAGIC = b"PAR1"
# What Python's csv module makes of bytes that are not UTF-8 (read with errors="surrogateescape").
UNDECODABLE = re.compile("[\udc80-\udcff]")
INVALID_UTF8 = "invalid UTF-8 bytes"
NEWLINE, CARRIAGE_RETURN = b"\n\r"
ASCII_WHITESPACE = np.frombuffer(b" \t\r\x0b\x0c", np.uint8)
# Leading bytes of files that are certainly not JSON text, with what they are.
FOREIGN_SIGNATURES = {
    b"PK\x03\x04": "a zip archive",
    b"\x1f\x8b": "a gzip file",
    b"%PDF": "a PDF document",
}


class RefusedFile(Exception):
    """The file is not what its landing folder says it is; it is refused whole."""


def _refuse_foreign(path: Path, head: bytes, expected: str = "JSON text") -> None:
    """Refuse a file whose first bytes show it is not the text expected."""
    for signature, what in FOREIGN_SIGNATURES.items():
        if head.startswith(signature):
            raise RefusedFile(f"{path.name} is {what}, not {expected}")
    if head.lstrip()[:1] == b"<":
        raise RefusedFile(f"{path.name} looks like HTML or XML (starts with '<'), not {expected}")


def _open_landed(path: Path):
    """The file's bytes as a stream, zstd undone."""
    handle = path.open("rb")
    if path.suffix != ".zst":
        return handle
    return zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW).stream_reader(handle, closefd=True)


def _read_block(stream, path: Path) -> bytes:
    try:
        return stream.read(BLOCK_BYTES)
    except zstandard.ZstdError as error:
        raise RefusedFile(f"{path.name} is not a readable zstd file: {error}") from error


def decode_landed_bytes(path: Path) -> tuple[str, bool]:
    """A JSON document's text and whether it held invalid UTF-8 (those bytes become U+FFFD)."""
    with _open_landed(path) as stream:
        chunks = []
        while block := _read_block(stream, path):
            chunks.append(block)
    data = b"".join(chunks)
    _refuse_foreign(path, data[:64])
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="replace"), True


def _lines_of(block: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each line of the block starts and ends (line ends and trailing carriage returns left out),
    and which lines are blank (nothing but ASCII whitespace): numpy on the bytes, no Python object per line."""
    data = np.frombuffer(block, np.uint8)
    newlines = np.flatnonzero(data == NEWLINE)
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [len(block)]))
    while (carriage_return := (ends > starts) & (data[np.maximum(ends - 1, 0)] == CARRIAGE_RETURN)).any():
        ends = ends - carriage_return
    blank = ends == starts
    starts_with_whitespace = np.isin(data[np.minimum(starts, max(len(block) - 1, 0))], ASCII_WHITESPACE)
    for line in np.flatnonzero(~blank & starts_with_whitespace):
        blank[line] = not block[starts[line] : ends[line]].strip()
    return starts, ends, blank


def _item_table(ordinals, lines: pa.Array, problems: list[str | None]) -> pa.Table:
    """Items as Arrow (ordinal, line, read_problem), in several record batches: DuckDB scans Arrow batches
    in parallel, one per thread. `read_problem`: why the item cannot be read (it is rejected with it)."""
    table = pa.table(
        {"ordinal": pa.array(ordinals, pa.int64()), "line": lines, "read_problem": pa.array(problems, pa.string())}
    )
    return pa.Table.from_batches(table.to_batches(max_chunksize=ARROW_BATCH_ROWS), table.schema)


def _line_table(block: bytes, first_line: int) -> tuple[pa.Table, int]:
    """The block's non-blank lines as Arrow items (ordinal, line, read_problem), and how many lines it had.
    Lines with invalid UTF-8 are decoded with U+FFFD for those bytes (and hashed, by DuckDB, as decoded)."""
    starts, ends, blank = _lines_of(block)
    kept_starts, kept_ends = starts[~blank], ends[~blank]
    # The kept lines' bytes side by side (the Arrow string array's data, its offsets from their lengths):
    # the block less the gaps between kept lines, nearly all of them one newline.
    gap_starts, gap_ends = np.concatenate(([0], kept_ends)), np.concatenate((kept_starts, [len(block)]))
    in_a_line = np.ones(len(block), bool)
    newline_gaps = gap_ends - gap_starts == 1
    in_a_line[gap_starts[newline_gaps]] = False
    for start, end in zip(gap_starts[~newline_gaps].tolist(), gap_ends[~newline_gaps].tolist(), strict=True):
        in_a_line[start:end] = False
    packed = np.frombuffer(block, np.uint8)[in_a_line].tobytes()
    offsets = np.concatenate(([0], np.cumsum(kept_ends - kept_starts))).astype(np.int64)
    binary = pa.Array.from_buffers(
        pa.large_binary(), len(kept_starts), [None, pa.py_buffer(offsets), pa.py_buffer(packed)]
    )
    try:
        lines, invalid = binary.cast(pa.large_string()), np.zeros(len(binary), bool)
    except pa.ArrowInvalid:
        line_bytes = binary.to_pylist()
        decoded = [line.decode("utf-8", errors="replace") for line in line_bytes]
        invalid = np.fromiter((text.encode() != line for text, line in zip(decoded, line_bytes, strict=True)), bool)
        lines = pa.array(decoded, type=pa.large_string())
    problems = [INVALID_UTF8 if bad else None for bad in invalid] if invalid.any() else [None] * len(lines)
    return _item_table(np.flatnonzero(~blank) + first_line, lines, problems), len(starts)


def ndjson_line_blocks(path: Path) -> Iterator[pa.Table]:
    """The file's non-blank lines in blocks of about BLOCK_BYTES: (ordinal, line, read_problem), ordinals
    from 1."""
    with _open_landed(path) as stream:
        pending, first_line = b"", 1  # `pending`: the bytes after the last newline, a line still open
        block = _read_block(stream, path)
        _refuse_foreign(path, block[:64])
        while block or pending:
            if block:
                data = pending + block
                cut = data.rfind(b"\n")
                complete, pending = (data[:cut], data[cut + 1 :]) if cut >= 0 else (b"", data)
            else:  # end of file: the last line has no newline
                complete, pending = pending, b""
            if complete:
                table, line_count = _line_table(complete, first_line)
                yield table
                first_line += line_count
            block = _read_block(stream, path) if block else b""


def _column_names(names: list[str], source: SourceFormat, path: Path) -> list[str]:
    """A table's column names, trimmed and lower-cased; RefusedFile when they cannot name a row's fields."""
    columns = [name.strip().lower() for name in names]
    if len(set(columns)) < len(columns):
        raise RefusedFile(f"{path.name} names a column twice: {', '.join(names)}")
    missing = [name for name in source.required_columns if name not in columns]
    if missing:
        raise RefusedFile(
            f"{path.name} lacks the column{'s' * (len(missing) > 1)} {', '.join(missing)}"
            f" (a {source.name} table needs {', '.join(source.required_columns)})"
        )
    return columns


def _json_value(value):
    """A cell as JSON: times as ISO 8601 text, bytes as UTF-8, empty text and NaN as null."""
    if value is None or value == "" or (isinstance(value, float) and value != value):  # NaN is no JSON
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


@dataclass(frozen=True)
class _UnreadableRow:
    problem: str  # why its cells make no record (the reject's reason)
    cells: str  # the cells as a JSON array (the reject's original text)


def _row_items(columns: list[str], rows: list[tuple[int, list | _UnreadableRow]]) -> pa.Table:
    """(ordinal, cells) rows as Arrow items: each readable row the JSON object of its columns, keys in the
    table's order, so the same row always hashes the same."""
    lines: list[str] = []
    problems: list[str | None] = []
    for _, row in rows:
        if isinstance(row, _UnreadableRow):
            lines.append(row.cells)
            problems.append(row.problem)
            continue
        record = {name: _json_value(value) for name, value in zip(columns, row, strict=True)}
        text = json.dumps(record, ensure_ascii=False, default=str)
        bad = UNDECODABLE.search(text) is not None
        lines.append(UNDECODABLE.sub("\ufffd", text) if bad else text)
        problems.append(INVALID_UTF8 if bad else None)
    return _item_table([ordinal for ordinal, _ in rows], pa.array(lines, pa.large_string()), problems)


def _csv_rows(path: Path, source: SourceFormat) -> Iterator[tuple[list[str], list]]:
    """A CSV file's columns and its (ordinal, cells) rows in blocks, blank lines left out; a row with
    another number of cells than the header is passed on unreadable (it is rejected with its cells)."""
    with path.open("rb") as handle:
        _refuse_foreign(path, handle.read(64), "CSV text")
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as text:
        reader = csv.reader(text)
        try:
            header = next(reader, None)
            if header is None:
                raise RefusedFile(f"{path.name} is empty: a CSV file needs a header row")
            if any(UNDECODABLE.search(name) for name in header):
                raise RefusedFile(f"{path.name}: its header holds {INVALID_UTF8}")
            columns = _column_names(header, source, path)
            block: list = []
            for ordinal, row in enumerate(reader, start=1):
                if not row:
                    continue
                if len(row) == len(columns):
                    block.append((ordinal, row))
                else:
                    cells = UNDECODABLE.sub("\ufffd", json.dumps(row, ensure_ascii=False))
                    block.append(
                        (ordinal, _UnreadableRow(f"{len(row)} cells where the header has {len(columns)}", cells))
                    )
                if len(block) == TABLE_BLOCK_ROWS:
                    yield columns, block
                    block = []
            yield columns, block
        except csv.Error as error:
            raise RefusedFile(f"{path.name} is not a readable CSV file: {error}") from error


def _parquet_rows(path: Path, source: SourceFormat) -> Iterator[tuple[list[str], list]]:
    with path.open("rb") as handle:
        if handle.read(4) != PARQUET_MAGIC:
            raise RefusedFile(f"{path.name} is not a Parquet file (it does not start with PAR1)")
    try:
        parquet = pq.ParquetFile(path)
        columns = _column_names(parquet.schema_arrow.names, source, path)
        first = 1
        for batch in parquet.iter_batches(batch_size=TABLE_BLOCK_ROWS):
            yield columns, [(first + index, list(row.values())) for index, row in enumerate(batch.to_pylist())]
            first += batch.num_rows
    except (pa.ArrowException, OSError) as error:
        raise RefusedFile(f"{path.name} is not a readable Parquet file: {error}") from error


def table_row_blocks(path: Path, source: SourceFormat) -> Iterator[pa.Table]:
    """A CSV or Parquet file's rows in blocks of TABLE_BLOCK_ROWS, as Arrow items (ordinal, line,
    read_problem), ordinals from 1 (the first row after a CSV's header)."""
    rows = _parquet_rows(path, source) if path.suffix.lower() == ".parquet" else _csv_rows(path, source)
    for columns, block in rows:
        if block:
            yield _row_items(columns, block)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(BLOCK_BYTES):
            digest.update(block)
    return digest.hexdigest()
