"""Property-based tests: random and mutated records never crash a load, and every record is accounted for.
How many files each test generates is the hypothesis profile's (conftest.py: 150, 30 in make test-fast)."""

import json

import duckdb
from hypothesis import given
from hypothesis import strategies as st

from stigma_insights.assets.ingest.formats import SOURCE_FORMATS
from stigma_insights.assets.ingest.loader import LoadResult, load_file

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
# Ids and timestamps as the sources really send them, and as they go wrong.
loose_scalars = st.one_of(
    st.integers(0, 2**63),
    st.integers(0, 2**40).map(str),
    st.floats(0, 2e9).map(lambda f: round(f, 1)),
    st.none(),
    st.just(""),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=2),
)
texts = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=st.characters(codec="utf-8", categories=["Cc", "Cs", "So", "Lo"]), max_size=80),
    st.just("ok " * 20_000),  # a huge text
)

REDDIT_SUBMISSION = {"id": "abc1", "title": "t", "selftext": "s", "author": "a", "subreddit": "x", "created_utc": 1}
REDDIT_COMMENT = {"id": "c1", "link_id": "t3_abc1", "body": "b", "author": "a", "subreddit": "x", "created_utc": 1}
ZEESCHUIMER_VIDEO = {"source_platform": "tiktok.com", "data": {"id": "1", "desc": "d", "createTime": 1}}
ZEESCHUIMER_COMMENT = {"source_platform": "tiktok-comments", "data": {"cid": "2", "aweme_id": "1", "create_time": 1}}


@st.composite
def mutated_record(draw, template: dict) -> dict:
    record = json.loads(json.dumps(template))
    target = record.get("data", record)
    for key in draw(st.lists(st.sampled_from(sorted(target)), max_size=3, unique=True)):
        action = draw(st.sampled_from(["drop", "loose", "text", "any"]))
        if action == "drop":
            del target[key]
        else:
            target[key] = draw({"loose": loose_scalars, "text": texts, "any": json_values}[action])
    return record


@st.composite
def ndjson_line(draw, templates: list[dict]) -> bytes:
    kind = draw(st.sampled_from(["record", "truncated", "not_object", "cp1252", "garbage"]))
    line = json.dumps(draw(mutated_record(draw(st.sampled_from(templates)))), ensure_ascii=False)
    if kind == "truncated":
        return line[: draw(st.integers(0, max(0, len(line) - 1)))].encode()
    if kind == "not_object":
        return json.dumps(draw(json_values.filter(lambda v: not isinstance(v, dict)))).encode()
    if kind == "cp1252":
        return line.replace('"a"', '"caf\u00e9"').encode("cp1252", errors="replace")
    if kind == "garbage":
        return draw(st.binary(max_size=60)).replace(b"\n", b" ")
    return line.encode()


def load_bytes(tmp_path, source_name: str, name: str, data: bytes) -> tuple[LoadResult, duckdb.DuckDBPyConnection]:
    path = tmp_path / name
    path.write_bytes(data)
    conn = duckdb.connect()
    from stigma_insights.assets.ingest.loader import ensure_raw_tables

    ensure_raw_tables(conn, SOURCE_FORMATS[source_name])
    return load_file(conn, SOURCE_FORMATS[source_name], path), conn


def assert_accounted(result: LoadResult, conn, source_name: str, lines: int | None = None) -> None:
    if result.status == "refused":
        assert result.refusal_reason
        assert conn.execute("select count(*) from raw.rejects where source_position = 'file'").fetchone() == (1,)
        return
    assert result.records_read == result.records_loaded + result.records_rejected + result.records_duplicate
    if lines is not None:
        assert result.records_read == lines
    stored = conn.execute(f"select count(*) from raw.{source_name}").fetchone()[0]
    rejected = conn.execute("select count(*), count(*) filter (where reason = '') from raw.rejects").fetchone()
    assert stored == result.records_loaded and rejected == (result.records_rejected, 0)
    bad_ids = conn.execute(f"select count(*) from raw.{source_name} where coalesce(record_id, '') = ''").fetchone()
    assert bad_ids == (0,)


@given(lines=st.lists(ndjson_line([REDDIT_SUBMISSION, REDDIT_COMMENT]), min_size=1, max_size=8))
def test_reddit_dump_lines_never_crash_and_are_all_accounted_for(tmp_path, lines):
    result, conn = load_bytes(tmp_path, "reddit_dump", "RS.ndjson", b"\n".join(lines) + b"\n")
    assert_accounted(result, conn, "reddit_dump", lines=sum(1 for line in lines if line.strip()))


@given(lines=st.lists(ndjson_line([ZEESCHUIMER_VIDEO, ZEESCHUIMER_COMMENT]), min_size=1, max_size=8))
def test_zeeschuimer_lines_never_crash_and_are_all_accounted_for(tmp_path, lines):
    result, conn = load_bytes(tmp_path, "zeeschuimer", "export.ndjson", b"\n".join(lines) + b"\n")
    assert_accounted(result, conn, "zeeschuimer")


@given(
    children=st.lists(
        st.one_of(
            st.builds(lambda r: {"kind": "t3", "data": r}, mutated_record(REDDIT_SUBMISSION)),
            st.builds(lambda r: {"kind": "t1", "data": r}, mutated_record(REDDIT_COMMENT)),
            json_values,
        ),
        max_size=6,
    ),
    envelope=st.sampled_from(["listing", "array", "broken", "other"]),
)
def test_reddit_listings_never_crash_and_are_all_accounted_for(tmp_path, children, envelope):
    listing = {"kind": "Listing", "data": {"children": children}}
    document = {"listing": listing, "array": [listing, listing], "other": {"kind": "t5", "data": {}}}.get(envelope)
    text = json.dumps(document) if document is not None else json.dumps(listing)[:-3]
    result, conn = load_bytes(tmp_path, "reddit_api", "page.json", text.encode())
    assert_accounted(result, conn, "reddit_api")


@given(
    videos=st.lists(mutated_record({"id": 7318000000000000001, "create_time": 1, "username": "u"}), max_size=5),
    error_code=st.sampled_from(["ok", "ok", "rate_limit_exceeded", None]),
)
def test_tiktok_research_envelopes_never_crash_and_are_all_accounted_for(tmp_path, videos, error_code):
    envelope = {"data": {"videos": videos}, "error": {"code": error_code, "message": ""}}
    result, conn = load_bytes(tmp_path, "tiktok_research", "videos.json", json.dumps(envelope).encode())
    assert_accounted(result, conn, "tiktok_research")
    if error_code not in ("ok", None):
        assert result.status == "refused" and "rate_limit_exceeded" in result.refusal_reason


GENERIC_HEADER = ["id", "platform", "kind", "text", "created_at", "thread_id"]
generic_cells = st.one_of(
    st.sampled_from(["reddit", "TikTok", "post", "comment", "p1", "2026-01-05T10:00:00Z", "1767607200", ""]),
    loose_scalars.map(lambda value: "" if value is None else str(value)),
    texts,
)


@given(
    rows=st.lists(st.lists(generic_cells, min_size=4, max_size=8), min_size=1, max_size=8),
    encoding=st.sampled_from(["utf-8", "cp1252"]),
)
def test_generic_csv_rows_never_crash_and_are_all_accounted_for(tmp_path, rows, encoding):
    """Rows of any cells, too few or too many of them, quoted newlines and commas, bytes that are not UTF-8."""
    import csv
    import io

    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(GENERIC_HEADER)
    writer.writerows(rows)
    data = text.getvalue().encode(encoding, errors="replace")
    result, conn = load_bytes(tmp_path, "generic", "rows.csv", data)
    assert_accounted(result, conn, "generic", lines=sum(1 for row in rows if row))
