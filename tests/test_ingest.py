"""Source parsers and loader, run against a real DuckDB file without Dagster."""

import json
from pathlib import Path

import duckdb
import pytest
import zstandard

from stigma_insights.assets.ingest import loader, readers
from stigma_insights.assets.ingest.formats import SOURCE_FORMATS
from stigma_insights.assets.ingest.loader import (
    landed_files,
    load_file,
    load_landing_folder,
    rejects_by_file,
    unplaced_files,
)

SUBMISSION = {
    "id": "abc1",
    "title": "Title",
    "selftext": "text",
    "author": "someone",
    "subreddit": "mentalhealth",
    "created_utc": 1767225600,
}
COMMENT = {
    "id": "c1",
    "link_id": "t3_abc1",
    "parent_id": "t3_abc1",
    "body": "reply",
    "author": "other",
    "subreddit": "mentalhealth",
    "created_utc": "1767225700",
}


def ndjson(*records) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)


@pytest.fixture
def conn(tmp_path):
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as connection:
        yield connection


def load(conn, tmp_path, source_name, files: dict[str, str | bytes]):
    folder = tmp_path / source_name
    folder.mkdir(exist_ok=True)
    for name, content in files.items():
        path = folder / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return load_landing_folder(conn, SOURCE_FORMATS[source_name], folder)


def rejects(conn):
    return conn.execute("select source_position, reason from raw.rejects order by all").fetchall()


def test_reddit_dump_types_timestamps_and_bad_lines(conn, tmp_path):
    float_time = dict(SUBMISSION, id="abc2", created_utc=1767225600.0)
    text = ndjson(
        SUBMISSION,
        COMMENT,
        float_time,
        '{"id": "cut',
        "[1, 2]",
        dict(SUBMISSION, id="abc3", created_utc="yesterday"),
        dict(SUBMISSION, id=""),
        {"id": "x"},
    )
    (result,) = load(conn, tmp_path, "reddit_dump", {"RS_2026-01.ndjson": text})

    assert (result.records_read, result.records_loaded, result.records_rejected) == (8, 3, 5)
    assert conn.execute("select entity, record_id from raw.reddit_dump order by record_id").fetchall() == [
        ("submission", "abc1"),
        ("submission", "abc2"),
        ("comment", "c1"),
    ]
    assert rejects(conn) == [
        ("line 4", "invalid JSON"),
        ("line 5", "JSON value is not an object (ARRAY)"),
        ("line 6", "missing or unreadable creation time for submission"),
        ("line 7", "missing id for submission"),
        ("line 8", "neither a submission (no title) nor a comment (no link_id)"),
    ]
    original = conn.execute("select original_text from raw.rejects where source_position = 'line 4'").fetchone()
    assert original == ('{"id": "cut',)


def test_reddit_dump_zstd_and_duplicates_across_files(conn, tmp_path):
    plain = ndjson(SUBMISSION, COMMENT)
    zst = zstandard.ZstdCompressor().compress(ndjson(SUBMISSION, dict(SUBMISSION, id="zz9")).encode())
    results = load(conn, tmp_path, "reddit_dump", {"RS_a.ndjson": plain, "RS_b.zst": zst})

    assert [(r.records_loaded, r.records_duplicate) for r in results] == [(2, 0), (1, 1)]
    assert conn.execute("select count(*) from raw.reddit_dump").fetchone() == (3,)


def test_loading_the_same_files_twice_adds_nothing(conn, tmp_path):
    files = {"RS.ndjson": ndjson(SUBMISSION, "{oops")}
    first = load(conn, tmp_path, "reddit_dump", files)
    second = load(conn, tmp_path, "reddit_dump", files)

    assert [r.status for r in first] == ["loaded"] and [r.status for r in second] == ["already_loaded"]
    assert conn.execute("select count(*) from raw.reddit_dump").fetchone() == (1,)
    assert conn.execute("select count(*) from raw.rejects").fetchone() == (1,)
    assert conn.execute("select count(*) from raw.load_log").fetchone() == (1,)


def test_invalid_utf8_line_is_rejected_and_the_rest_loads(conn, tmp_path):
    data = ndjson(SUBMISSION).encode() + b'{"id": "bad", "title": "caf\xe9", "created_utc": 1}\n'
    (result,) = load(conn, tmp_path, "reddit_dump", {"RS.ndjson": data})

    assert (result.records_loaded, result.records_rejected) == (1, 1)
    assert rejects(conn) == [("line 2", "invalid UTF-8 bytes")]


def test_content_hashes_are_the_sha256_of_the_text_kept(conn, tmp_path):
    """NDJSON lines are hashed in Python (hashlib), documents' items in DuckDB: both must be the SHA-256 of
    the text stored, or a record landed once in each way, or before and after the change, is kept twice."""
    data = (
        ndjson(SUBMISSION).replace("\n", "\r\n").encode()  # CRLF: the carriage return is not part of the line
        + b" \t \n"  # nothing but whitespace: a blank line, not a record
        + b'{"id": "bad", "title": "caf\xe9", "created_utc": 1}\n'  # hashed as decoded, U+FFFD for the byte
        + ndjson(COMMENT, "[1, 2]").encode()
    )
    (result,) = load(conn, tmp_path, "reddit_dump", {"RS.ndjson": data})

    assert (result.records_read, result.records_loaded, result.records_rejected) == (4, 2, 2)
    kept = conn.execute("select source_position, content_sha256 = sha256(record::varchar) from raw.reddit_dump")
    assert sorted(kept.fetchall()) == [("line 1", True), ("line 4", True)]
    rejected = conn.execute("select source_position, original_sha256 = sha256(original_text) from raw.rejects")
    assert sorted(rejected.fetchall()) == [("line 3", True), ("line 5", True)]
    assert conn.execute("select sha256(record::varchar) from raw.reddit_dump where record_id = 'abc1'").fetchone() == (
        conn.execute("select sha256(?)", [json.dumps(SUBMISSION)]).fetchone()
    )


def test_reddit_api_listing_comment_tree_with_nested_replies_and_morechildren(conn, tmp_path):
    listing = {
        "kind": "Listing",
        "data": {"children": [{"kind": "t3", "data": dict(SUBMISSION, created_utc=1767225600.0)}]},
    }

    def comment(comment_id: str, replies) -> dict:
        return {"kind": "t1", "data": dict(COMMENT, id=comment_id, replies=replies)}

    # /comments/<id>: replies nest inside their parent, at any depth, with a "load more" stub inside.
    stub = {"kind": "more", "data": {"count": 2, "children": ["c5", "c6"], "parent_id": "t1_c3"}}
    reply = comment("c3", {"kind": "Listing", "data": {"children": [comment("c4", ""), stub]}})
    thread = [
        {"kind": "Listing", "data": {"children": [{"kind": "t3", "data": SUBMISSION}]}},
        {
            "kind": "Listing",
            "data": {
                "children": [comment("c1", ""), comment("c2", {"kind": "Listing", "data": {"children": [reply]}})]
            },
        },
    ]
    morechildren = {"json": {"errors": [], "data": {"things": [comment("c5", ""), comment("c6", "")]}}}
    refused = {"json": {"errors": [["RATELIMIT", "you are doing that too much", "ratelimit"]]}}
    results = load(
        conn,
        tmp_path,
        "reddit_api",
        {
            "a_new.json": json.dumps(listing),
            "b_thread.json": json.dumps(thread),
            "c_more.json": json.dumps(morechildren),
            "d_refused.json": json.dumps(refused),
        },
    )

    assert [(r.records_read, r.records_loaded, r.records_rejected) for r in results[:3]] == [
        (1, 1, 0),
        (6, 5, 1),
        (2, 2, 0),
    ]
    assert results[3].status == "refused" and "RATELIMIT" in results[3].refusal_reason
    loaded = conn.execute("select entity, record_id from raw.reddit_api order by entity, record_id").fetchall()
    assert loaded == [("comment", f"c{n}") for n in range(1, 7)] + [("submission", "abc1")] * 2
    assert rejects(conn)[0][1].startswith('a "load more comments" stub')


def test_tiktok_research_envelopes_keep_int64_ids_exactly(conn, tmp_path):
    videos = (
        '{"data": {"videos": [{"id": 7318000000000000001, "create_time": 1703980800, "username": "u"}],'
        ' "cursor": 1, "has_more": false}, "error": {"code": "ok", "message": ""}}'
    )
    comments = (
        '{"data": {"comments": [{"id": 7318100000000000003, "video_id": 7318000000000000001,'
        ' "text": "hi", "create_time": 1703990000}]}, "error": {"code": "ok"}}'
    )
    load(conn, tmp_path, "tiktok_research", {"v.json": videos, "c.json": comments})

    assert conn.execute("select entity, record_id from raw.tiktok_research order by all").fetchall() == [
        ("comment", "7318100000000000003"),
        ("video", "7318000000000000001"),
    ]


@pytest.mark.parametrize(
    ("source_name", "name", "content", "reason"),
    [
        (
            "tiktok_research",
            "limited.json",
            '{"data": {}, "error": {"code": "rate_limit_exceeded", "message": "Too many requests"}}',
            "limited.json: TikTok API error rate_limit_exceeded: Too many requests",
        ),
        (
            "reddit_api",
            "page.json",
            "<html><body>502 Bad Gateway</body></html>",
            "page.json looks like HTML or XML (starts with '<'), not JSON text",
        ),
        ("zeeschuimer", "export.ndjson", b"PK\x03\x04\x14\x00binary", "export.ndjson is a zip archive, not JSON text"),
        (
            "reddit_api",
            "half.json",
            '{"kind": "Listing", "data": {"children": [',
            "half.json is not a valid JSON document",
        ),
    ],
)
def test_a_file_that_is_not_what_it_claims_is_refused_and_the_batch_goes_on(
    conn, tmp_path, source_name, name, content, reason
):
    good = {
        "tiktok_research": '{"data": {"videos": [{"id": 1, "create_time": 2}]}, "error": {"code": "ok"}}',
        "reddit_api": json.dumps({"kind": "Listing", "data": {"children": [{"kind": "t3", "data": SUBMISSION}]}}),
        "zeeschuimer": ndjson({"source_platform": "tiktok.com", "data": {"id": "1", "createTime": 2}}),
    }[source_name]
    results = load(conn, tmp_path, source_name, {name: content, "zz_good" + Path(name).suffix: good})

    assert [(r.status, r.refusal_reason) for r in results] == [("refused", reason), ("loaded", None)]
    assert rejects(conn) == [("file", reason)]
    assert conn.execute(f"select count(*) from raw.{source_name}").fetchone() == (1,)


def test_files_the_loader_cannot_place_are_named_and_rejects_counted_by_reason(conn, tmp_path):
    """A CSV dropped in reddit_dump/ is reported as skipped, with why; a loaded file's rejects are counted
    per reason for the run summary."""
    source = SOURCE_FORMATS["reddit_dump"]
    folder = tmp_path / source.name
    folder.mkdir()
    (folder / "posts.csv").write_text("id,title\n1,hello\n")
    (folder / ".DS_Store").write_bytes(b"\0")
    (folder / "RS_1.ndjson").write_text(ndjson(SUBMISSION) + "{not json\n[1]\n{also not\n")

    [result] = load_landing_folder(conn, source, folder)

    assert unplaced_files(source, folder) == {
        str(folder / "posts.csv"): "not a reddit_dump file: its name ends in none of .ndjson, .jsonl, .json, .zst"
    }
    assert rejects_by_file(conn, source, [result.source_file]) == {
        result.source_file: {"JSON value is not an object (ARRAY)": 1, "invalid JSON": 2}
    }


def test_a_dump_whose_stream_breaks_after_loaded_blocks_is_refused_whole(conn, tmp_path, monkeypatch):
    """Blocks are read ahead of the ones being stored: an error in a later block still refuses the whole
    file, and what its earlier blocks stored goes with it."""
    monkeypatch.setattr(readers, "BLOCK_BYTES", 20_000)
    text = ndjson(*(dict(SUBMISSION, id=f"s{i}", selftext=f"post number {i}") for i in range(3000)))
    compressed = bytearray(zstandard.ZstdCompressor(write_checksum=True).compress(text.encode()))
    compressed[-6:] = b"broken"  # the last of its zstd blocks (128 kB each) and the frame's checksum
    folder = tmp_path / "reddit_dump"
    folder.mkdir()
    (folder / "RS_broken.zst").write_bytes(bytes(compressed))
    (folder / "RS_good.ndjson").write_text(text)
    readable = []
    with pytest.raises(readers.RefusedFile, match="RS_broken.zst is not a readable zstd file"):
        for block in readers.ndjson_line_blocks(folder / "RS_broken.zst"):
            readable.append(block.num_rows)
    assert sum(readable) > 1000  # blocks that are stored before the broken one is read

    results = load_landing_folder(conn, SOURCE_FORMATS["reddit_dump"], folder)
    assert [r.status for r in results] == ["refused", "loaded"]
    assert conn.execute("select count(*), count(distinct source_file) from raw.reddit_dump").fetchone() == (3000, 1)
    assert conn.execute("select status, records_loaded from raw.load_log order by source_file").fetchall() == [
        ("refused", 0),
        ("loaded", 3000),
    ]


def test_zeeschuimer_posts_comments_and_other_platforms(conn, tmp_path):
    lines = ndjson(
        {"source_platform": "tiktok.com", "data": {"id": "7318", "createTime": "1703980800", "author": "handle"}},
        {"source_platform": "tiktok-comments", "data": {"cid": "7319", "aweme_id": "7318", "create_time": 1703990000}},
        {"source_platform": "instagram.com", "data": {"id": "9"}},
    )
    (result,) = load(conn, tmp_path, "zeeschuimer", {"export.ndjson": lines})

    assert (result.records_loaded, result.records_rejected) == (2, 1)
    assert rejects(conn) == [("line 3", "source_platform instagram.com is not tiktok.com or tiktok-comments")]


def test_every_load_accounts_for_every_record(conn, tmp_path):
    results = load(conn, tmp_path, "reddit_dump", {"a.ndjson": ndjson(SUBMISSION, SUBMISSION, "nope", COMMENT)})
    logged = conn.execute(
        "select records_read, records_loaded, records_rejected, records_duplicate from raw.load_log"
    ).fetchone()

    assert logged == (4, 2, 1, 1)
    assert results[0].records_read == sum(logged[1:])


def test_a_failed_load_leaves_nothing_behind(conn, tmp_path):
    source = SOURCE_FORMATS["reddit_dump"]
    folder = tmp_path / "reddit_dump"
    folder.mkdir()
    path = folder / "a.ndjson"
    path.write_text(ndjson(SUBMISSION))
    load_landing_folder(conn, source, folder)
    conn.execute("drop table raw.rejects")  # make the insert of rejects fail mid-transaction
    path.write_text(ndjson(dict(SUBMISSION, id="new1"), "bad line"))

    with pytest.raises(duckdb.CatalogException):
        load_file(conn, source, path)
    assert conn.execute("select record_id from raw.reddit_dump").fetchall() == [("abc1",)]
    assert conn.execute("select count(*) from raw.load_log").fetchone() == (1,)


def test_documents_share_transactions_and_load_as_they_would_alone(tmp_path, monkeypatch):
    """API pages load a few hundred to a transaction (a commit per page is slow, on a lake it is new Parquet
    files per page): a refused page, a page landed twice and the ledger come out as they would one by one."""
    page = lambda *ids: json.dumps(  # noqa: E731
        {"kind": "Listing", "data": {"children": [{"kind": "t3", "data": dict(SUBMISSION, id=i)} for i in ids]}}
    )
    files = {
        "1.json": page("a1", "a2"),
        "2.json": "<html>502 Bad Gateway</html>",
        "3.json": page("a2", "a3"),  # a2 again: a duplicate record
        "4.json": page("a1", "a2"),  # the bytes of 1.json: loaded already
    }
    source, outcomes = SOURCE_FORMATS["reddit_api"], {}
    for batch_bytes, transactions in ((loader.DOCUMENT_BATCH_BYTES, 1), (1, 4)):
        monkeypatch.setattr(loader, "DOCUMENT_BATCH_BYTES", batch_bytes)
        landing = tmp_path / f"landing_{batch_bytes}"
        landing.mkdir()
        with duckdb.connect() as conn:
            results = load(conn, landing, "reddit_api", files)
            assert len(loader.transaction_batches(source, landed_files(source, landing / "reddit_api"))) == transactions
            outcomes[batch_bytes] = (
                [(Path(r.source_file).name, r.status, r.records_loaded, r.records_duplicate) for r in results],
                conn.execute("select record_id from raw.reddit_api order by 1").fetchall(),
                conn.execute("select source_position, reason from raw.rejects").fetchall(),
                conn.execute("select count(*) from raw.load_log").fetchall(),
            )
    together, alone = outcomes.values()
    assert together == alone
    assert together[0] == [
        ("1.json", "loaded", 2, 0),
        ("2.json", "refused", 0, 0),
        ("3.json", "loaded", 1, 1),
        ("4.json", "already_loaded", 0, 0),
    ]
    assert together[1:] == (
        [("a1",), ("a2",), ("a3",)],
        [("file", "2.json looks like HTML or XML (starts with '<'), not JSON text")],
        [(3,)],
    )


GENERIC_EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "generic_minimal.csv"


def test_the_documented_generic_example_loads_whole_from_csv_and_parquet(conn, tmp_path):
    import pyarrow.csv as pv
    import pyarrow.parquet as pq

    example = pv.read_csv(GENERIC_EXAMPLE, convert_options=pv.ConvertOptions(column_types={"created_at": "string"}))
    folder = tmp_path / "generic"
    folder.mkdir()
    (folder / "example.csv").write_bytes(GENERIC_EXAMPLE.read_bytes())
    pq.write_table(example.set_column(0, "id", pa_ids(example, "pq_")), folder / "example.parquet")
    results = load_landing_folder(conn, SOURCE_FORMATS["generic"], folder)

    assert [(r.status, r.records_read, r.records_loaded, r.records_rejected) for r in results] == [
        ("loaded", 4, 4, 0),
        ("loaded", 4, 4, 0),
    ]
    assert conn.execute("select entity, record_id from raw.generic order by source_file, record_id").fetchall() == [
        ("post", "q1"), ("comment", "q2"), ("comment", "q3"), ("post", "v1"),
        ("post", "pq_q1"), ("comment", "pq_q2"), ("comment", "pq_q3"), ("post", "pq_v1"),
    ]  # fmt: skip
    # Each row is kept as the JSON object of its columns, empty cells null.
    (record,) = conn.execute("select record from raw.generic where record_id = 'q2'").fetchone()
    assert json.loads(record) == {
        "id": "q2", "platform": "reddit", "kind": "comment",
        "text": "Same here. What helped me was talking to a school counsellor first.",
        "created_at": "1767609000", "thread_id": "q1", "parent_id": None, "community": "Philippines",
        "author": "writer_2", "title": None, "region_code": None,
    }  # fmt: skip


def pa_ids(table, prefix: str):
    import pyarrow as pa

    return pa.array([prefix + value for value in table.column("id").to_pylist()])


def test_generic_rows_that_cannot_be_kept_are_rejected_with_their_reason(conn, tmp_path):
    header = "id,platform,kind,text,created_at,thread_id\n"
    rows = [
        "p1,Reddit,Post,kept: platform and kind in any case,2026-01-05T10:00:00Z,",
        "c1,reddit,comment,kept,1767607200,p1",
        "c2,reddit,comment,a comment needs its thread,2026-01-05,",
        "x1,instagram,post,not a platform we label,2026-01-05,",
        "",
        "p2,tiktok,video,not a kind,2026-01-05,",
        "p3,reddit,post,a time nobody can read,yesterday,",
        ",reddit,post,no id,2026-01-05,",
        "p4,reddit,post,too,many,cells,here",
    ]
    data = (header + "\n".join(rows) + "\n").encode() + b"p5,reddit,post,caf\xe9,2026-01-05,\n"
    (result,) = load(conn, tmp_path, "generic", {"mixed.csv": data})

    assert (result.records_read, result.records_loaded, result.records_rejected) == (9, 2, 7)
    assert rejects(conn) == [
        ("row 10", "invalid UTF-8 bytes"),
        ("row 3", "comment without thread_id (the id of the post it belongs to)"),
        ("row 4", "platform instagram is not one of reddit, tiktok"),
        ("row 6", "kind video is not post or comment"),
        ("row 7", "missing or unreadable creation time for post"),
        ("row 8", "missing id for post"),
        ("row 9", "7 cells where the header has 6"),
    ]
    kept = conn.execute("select original_text from raw.rejects where source_position = 'row 9'").fetchone()
    assert json.loads(kept[0]) == ["p4", "reddit", "post", "too", "many", "cells", "here"]
    assert load(conn, tmp_path, "generic", {"mixed.csv": data})[0].status == "already_loaded"


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("short.csv", "id,text\n1,hi\n", "short.csv lacks the columns platform, kind, created_at"),
        ("twice.csv", "id,ID,platform,kind,text,created_at\n", "twice.csv names a column twice"),
        ("empty.csv", "", "empty.csv is empty: a CSV file needs a header row"),
        ("zipped.csv", b"PK\x03\x04rest", "zipped.csv is a zip archive, not CSV text"),
        ("fake.parquet", "id,platform\n", "fake.parquet is not a Parquet file"),
    ],
)
def test_generic_files_that_are_no_such_table_are_refused_whole(conn, tmp_path, name, content, reason):
    (result,) = load(conn, tmp_path, "generic", {name: content})

    assert result.status == "refused" and result.refusal_reason.startswith(reason)
    assert conn.execute("select count(*) from raw.generic").fetchone() == (0,)
