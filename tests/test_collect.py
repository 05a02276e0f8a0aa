"""The collectors against a real HTTP stand-in on loopback (pytest-httpserver): paging, retries,
token renewal, quotas, resuming, and credentials that never reach a file or a message."""

import csv
import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
import yaml
from werkzeug import Request, Response

from stigma_insights.assets.collect.collectors import RedditCollector, TikTokCollector, tiktok_quota_exhausted
from stigma_insights.assets.collect.config import DEFAULT_COLLECTION_PATH, Subreddit, load_collection
from stigma_insights.assets.collect.http import ApiClient, BearerToken, RetryPolicy
from stigma_insights.assets.collect.pages import CollectState, PageWriter, collect_state_file
from stigma_insights.assets.ingest.formats import REDDIT_API
from stigma_insights.assets.ingest.loader import load_landing_folder
from stigma_insights.orchestration.cli import main
from stigma_insights.settings import (
    ARCTIC_SHIFT_URL_ENV,
    COLLECTION_ENV,
    REDDIT_API_URL_ENV,
    REDDIT_AUTH_URL_ENV,
    REDDIT_CLIENT_ID_ENV,
    REDDIT_CLIENT_SECRET_ENV,
    REDDIT_USER_AGENT_ENV,
    TIKTOK_API_URL_ENV,
    TIKTOK_CLIENT_KEY_ENV,
    TIKTOK_CLIENT_SECRET_ENV,
)

from conftest import REPO_ROOT, run_everything, run_job, settings_for

SECRET = "s3cret-client-secret-value"
TOKEN = "tok-abcdef-0123456789"


def json_response(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")


def reddit_post(post_id: str, created: int, subreddit: str = "Philippines") -> dict:
    return {
        "kind": "t3",
        "data": {
            "id": post_id,
            "name": f"t3_{post_id}",
            "subreddit": subreddit,
            "author": f"writer_{post_id}",
            "title": f"Talking to my family about therapy ({post_id})",
            "selftext": "My parents say going to therapy is shameful and I should keep it inside the family.",
            "created_utc": created,
        },
    }


def listing(children: list[dict], after: str | None) -> dict:
    return {"kind": "Listing", "data": {"after": after, "before": None, "dist": len(children), "children": children}}


def video_page(videos: list[dict], cursor: int, has_more: bool, search_id: str) -> Response:
    """A Research API video query answer."""
    data = {"videos": videos, "cursor": cursor, "has_more": has_more, "search_id": search_id}
    return json_response({"data": data, "error": {"code": "ok"}})


def every_file_text(folder: Path) -> str:
    return "".join(path.read_text(encoding="utf-8", errors="replace") for path in folder.rglob("*") if path.is_file())


@pytest.fixture
def reddit_env(httpserver, monkeypatch):
    url = httpserver.url_for("").rstrip("/")
    for name, value in {
        REDDIT_AUTH_URL_ENV: url,
        REDDIT_API_URL_ENV: url,
        REDDIT_CLIENT_ID_ENV: "client-id",
        REDDIT_CLIENT_SECRET_ENV: SECRET,
        REDDIT_USER_AGENT_ENV: "stigma-insights-tests/1.0 by u/tester",
    }.items():
        monkeypatch.setenv(name, value)
    tokens: list[str] = []

    def token(request: Request) -> Response:
        assert request.authorization and request.authorization.password == SECRET
        tokens.append(TOKEN)
        return json_response({"access_token": TOKEN, "token_type": "bearer", "expires_in": 86400})

    httpserver.expect_request("/api/v1/access_token", method="POST").respond_with_handler(token)
    return tokens


def test_reddit_pages_listings_fetches_comments_and_next_time_only_what_is_new(
    httpserver, reddit_env, tmp_path, capsys
):
    pages = {
        "": listing([reddit_post("p3", 3000), reddit_post("p2", 2000)], "t3_p2"),
        "t3_p2": listing([reddit_post("p1", 1000)], None),
    }
    seen_after: list[str] = []

    def search(request: Request) -> Response:
        assert request.headers["Authorization"] == f"Bearer {TOKEN}" and request.args["restrict_sr"] == "1"
        seen_after.append(request.args.get("after", ""))
        return json_response(pages[request.args.get("after", "")])

    def comments(request: Request) -> Response:
        post_id = request.path.rsplit("/", 1)[-1]
        comment = {
            "kind": "t1",
            "data": {
                "id": f"c_{post_id}",
                "link_id": f"t3_{post_id}",
                "parent_id": f"t3_{post_id}",
                "body": "Same here.",
                "author": "replier",
                "subreddit": "Philippines",
                "created_utc": 4000,
            },
        }
        return json_response([listing([reddit_post(post_id, 1)], None), listing([comment], None)])

    httpserver.expect_request("/r/Philippines/search").respond_with_handler(search)
    httpserver.expect_request(re.compile("^/comments/"), method="GET").respond_with_handler(comments)
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    arguments = [
        "collect",
        "reddit",
        "--subreddit",
        "Philippines",
        "--comments",
        "--landing",
        str(landing),
        "--warehouse",
        str(warehouse),
    ]

    assert main(arguments) == 0
    first = sorted((landing / "reddit_api").glob("*.json"))
    assert seen_after == ["", "t3_p2"] and len(first) == 2 + 3  # two listing pages, three comment trees
    assert all(path.with_name(path.name + ".request").exists() for path in first)
    assert not list(landing.rglob("*.partial"))
    assert "5 pages" in capsys.readouterr().out

    # The next night: one new post on top; the collector stops at the newest post it already has.
    pages[""] = listing([reddit_post("p4", 4000), reddit_post("p3", 3000)], "t3_p3")
    assert main(arguments) == 0
    assert seen_after == ["", "t3_p2", ""]
    assert len(sorted((landing / "reddit_api").glob("*.json"))) == 5 + 2  # one listing page, one comment tree
    assert reddit_env == [TOKEN, TOKEN]  # one token per run
    # No secret or token in any landing file, request record or the warehouse's state.
    assert SECRET not in every_file_text(landing) and TOKEN not in every_file_text(landing)
    with duckdb.connect(str(collect_state_file(warehouse, "reddit")), read_only=True) as conn:
        assert TOKEN not in str(conn.execute("select * from collect.state").fetchall())


def test_missing_credentials_name_every_variable_and_where_to_get_them_and_write_nothing(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv(TIKTOK_CLIENT_KEY_ENV, raising=False)
    monkeypatch.delenv(TIKTOK_CLIENT_SECRET_ENV, raising=False)
    where = ["--landing", str(tmp_path / "landing"), "--warehouse", str(tmp_path / "w.duckdb")]

    assert main(["collect", "tiktok", *where]) == 2
    error = capsys.readouterr().err
    # Both at once, not one per try, and where a newcomer gets them.
    assert TIKTOK_CLIENT_KEY_ENV in error and TIKTOK_CLIENT_SECRET_ENV in error and "are not set" in error
    assert "developers.tiktok.com" in error
    monkeypatch.setenv(TIKTOK_CLIENT_SECRET_ENV, SECRET)
    assert main(["collect", "tiktok", *where]) == 2
    error = capsys.readouterr().err
    assert TIKTOK_CLIENT_KEY_ENV in error and TIKTOK_CLIENT_SECRET_ENV not in error and "is not set" in error
    assert not list(tmp_path.iterdir())


def test_retries_honour_retry_after_back_off_on_5xx_and_renew_an_expired_token(httpserver):
    answers = iter(
        [
            json_response({"message": "Too Many Requests"}, 429, {"Retry-After": "7"}),
            json_response({"message": "Bad Gateway"}, 502),
            json_response({"error": "expired"}, 401),
            json_response({"ok": True}),
        ]
    )
    httpserver.expect_request("/thing").respond_with_handler(lambda request: next(answers))
    waits: list[float] = []
    issued = iter(["first-token", "second-token"])
    token = BearerToken(lambda: (next(issued), 3600))
    client = ApiClient(httpserver.url_for(""), "tests", token, RetryPolicy(sleep=waits.append), secrets=(SECRET,))

    assert client.send("GET", "/thing").json() == {"ok": True}
    assert waits[0] == 7.0 and 0.5 <= waits[1] <= 2.0 and len(waits) == 2  # no wait before the token renewal
    assert token.current == "second-token"
    authorisations = [request.headers["Authorization"] for request, _ in httpserver.log]
    assert authorisations == ["Bearer first-token"] * 3 + ["Bearer second-token"]


def test_a_request_that_keeps_failing_gives_up_with_a_message_free_of_secrets(httpserver):
    httpserver.expect_request("/always").respond_with_data(f"echo {SECRET}", status=503)
    client = ApiClient(
        httpserver.url_for(""), "tests", None, RetryPolicy(attempts=3, sleep=lambda s: None), secrets=(SECRET,)
    )
    with pytest.raises(Exception, match="gave up after 3 attempts") as raised:
        client.send("GET", "/always")
    assert SECRET not in str(raised.value) and len(httpserver.log) == 3


def tiktok_video(video_id: int, created: int) -> dict:
    return {
        "id": video_id,
        "create_time": created,
        "username": f"creator{video_id}",
        "region_code": "PH",
        "video_description": "Therapy is not shameful #mentalhealth",
        "hashtag_names": ["mentalhealth"],
    }


def tiktok_collector(httpserver, warehouse: Path, folder: Path, **options) -> TikTokCollector:
    """A TikTok collector on the stand-in, its token issued at once, its retries without waiting."""
    client = ApiClient(
        httpserver.url_for(""),
        "tests",
        BearerToken(lambda: (TOKEN, 7200)),
        RetryPolicy(sleep=lambda s: None),
        is_quota_exhausted=tiktok_quota_exhausted,
    )
    return TikTokCollector(
        client, CollectState(warehouse, "tiktok"), PageWriter(folder, "collected"), {"or": []}, **options
    )


def test_tiktok_stops_cleanly_when_the_daily_quota_is_spent_and_resumes_at_its_cursor(httpserver, tmp_path):
    calls: list[dict] = []
    quota_spent = {"now": True}

    def query(request: Request) -> Response:
        body = request.get_json()
        calls.append(body)
        if body["cursor"] == 0:
            return video_page([tiktok_video(1, 1_790_000_000)], 100, True, "search-7")
        if quota_spent["now"]:
            return json_response({"error": {"code": "daily_quota_limit_exceeded", "message": "quota"}}, 429)
        assert body["search_id"] == "search-7"
        return video_page([tiktok_video(2, 1_790_000_100)], 200, False, "search-7")

    httpserver.expect_request("/v2/research/video/query/", method="POST").respond_with_handler(query)
    warehouse, folder = tmp_path / "warehouse.duckdb", tmp_path / "landing" / "tiktok_research"

    def collector(today: date) -> TikTokCollector:
        return tiktok_collector(httpserver, warehouse, folder, today=today)

    day, today, tomorrow = date(2026, 9, 21), date(2026, 9, 22), date(2026, 9, 23)
    stopped = collector(today).collect(day, day)
    assert "daily quota is spent" in stopped.stopped and stopped.pages == 1
    assert [c["cursor"] for c in calls] == [0, 100]  # no retry storm on a spent quota
    # The refused request counts too, and once refused nothing more is sent that day (the quota is
    # shared with the organisation's other collaborators: our own count cannot know it is spent).
    assert CollectState(warehouse, "tiktok").quota_used(today.isoformat()) == (2, 1, True)
    quota_spent["now"] = False
    assert "TikTok refused a request" in collector(today).collect(day, day).stopped and len(calls) == 2

    resumed = collector(tomorrow).collect(day, day)  # after 00:00 UTC
    assert [c["cursor"] for c in calls] == [0, 100, 100] and resumed.pages == 1  # page 1 not fetched again
    assert collector(tomorrow).collect(day, day).pages == 0  # the day is done
    assert CollectState(warehouse, "tiktok").quota_used(tomorrow.isoformat()) == (1, 1, False)
    assert len(list(folder.glob("*.json"))) == 2


def test_tiktok_counts_retried_requests_against_the_daily_quota(httpserver, tmp_path):
    answers = iter(
        [
            json_response(
                {"error": {"code": "rate_limit_exceeded", "message": "slow down"}}, 429, {"Retry-After": "0"}
            ),
            video_page([tiktok_video(3, 1_790_000_000)], 1, False, "s"),
        ]
    )
    httpserver.expect_request("/v2/research/video/query/").respond_with_handler(lambda request: next(answers))
    warehouse = tmp_path / "warehouse.duckdb"
    collector = tiktok_collector(httpserver, warehouse, tmp_path)

    assert collector.collect(date(2026, 9, 21), date(2026, 9, 21)).records == 1
    assert CollectState(warehouse, "tiktok").quota_used(datetime.now(UTC).date().isoformat()) == (2, 1, False)


def test_arctic_shift_pages_by_created_utc_into_ndjson_dumps_the_loader_reads(httpserver, tmp_path, monkeypatch):
    records = [
        {
            "id": f"a{i}",
            "title": f"post {i}",
            "selftext": "family shame",
            "author": "someone",
            "subreddit": "india",
            "created_utc": 1_700_000_000 + i,
        }
        for i in range(150)
    ]

    def search(request: Request) -> Response:
        after = int(request.args["after"])
        page = [r for r in records if r["created_utc"] > after][: int(request.args["limit"])]
        return json_response({"data": page})

    httpserver.expect_request("/api/posts/search").respond_with_handler(search)
    monkeypatch.setenv(ARCTIC_SHIFT_URL_ENV, httpserver.url_for("").rstrip("/"))
    landing = tmp_path / "landing"

    assert (
        main(
            [
                "collect",
                "arctic-shift",
                "--subreddit",
                "india",
                "--after",
                "2023-11-01",
                "--no-comments",
                "--landing",
                str(landing),
                "--warehouse",
                str(tmp_path / "w.duckdb"),
            ]
        )
        == 0
    )
    lines = [
        json.loads(line)
        for path in sorted((landing / "reddit_dump").glob("*.ndjson"))
        for line in path.read_text().splitlines()
    ]
    assert {line["id"] for line in lines} == {r["id"] for r in records}
    afters = [int(request.args["after"]) for request, _ in httpserver.log]
    # Two pages: the second starts at the first's last second again (its one record there comes twice,
    # and the loader's de-duplication drops it) and, shorter than a page, ends the search.
    assert len(afters) == 2 and afters[1] == records[99]["created_utc"] - 1 and len(lines) == 151


def test_the_shipped_collection_follows_the_study_and_agrees_with_the_region_seed():
    collection = load_collection(DEFAULT_COLLECTION_PATH)
    with open(REPO_ROOT / "dbt_project" / "seeds" / "subreddit_countries.csv", encoding="utf-8") as handle:
        seed = {row["subreddit"]: row["country_code"] for row in csv.DictReader(handle)}
    assert len(collection.subreddits) == 14
    assert sum(s.country in {"PH", "IN", "KR"} for s in collection.subreddits) == 8
    assert {s.name: s.country for s in collection.subreddits} == {s.name: seed[s.name] for s in collection.subreddits}
    query = collection.tiktok_query.as_research_query()
    assert query["or"] and query["and"][0]["field_name"] == "region_code"


@pytest.mark.slow
def test_collected_posts_reach_the_marts_with_their_subreddit_and_region(httpserver, reddit_env, tmp_path):
    posts = [reddit_post(f"e{i}", 1_790_000_000 + i) for i in range(3)]
    httpserver.expect_request("/r/Philippines/search").respond_with_json(listing(posts, None))
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    assert (
        main(
            [
                "collect",
                "reddit",
                "--subreddit",
                "Philippines",
                "--no-comments",
                "--landing",
                str(landing),
                "--warehouse",
                str(warehouse),
            ]
        )
        == 0
    )

    result = run_everything(settings_for(warehouse, landing=landing))

    assert result.success
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        rows = conn.execute("select community, country_code, region from marts.fct_labelled_posts").fetchall()
    assert rows == [("Philippines", "PH", "Southeast Asia")] * 3


def test_a_failed_run_resumes_at_the_page_it_failed_on_and_a_malformed_page_does_not_stop_the_others(
    httpserver, reddit_env, tmp_path, capsys
):
    seen_after: list[str] = []
    broken = {"page 2": True}

    def search(request: Request) -> Response:
        after = request.args.get("after", "")
        seen_after.append(after)
        if after == "":
            return json_response(listing([reddit_post("p2", 2000)], "t3_p2"))
        if broken["page 2"]:  # the server fails for good (Retry-After 0 keeps the test fast)
            return json_response({"message": "Service Unavailable"}, 503, {"Retry-After": "0"})
        return json_response(listing([reddit_post("p1", 1000)], None))

    httpserver.expect_request("/r/Philippines/search").respond_with_handler(search)
    httpserver.expect_request("/r/india/search").respond_with_data("<html>maintenance</html>", content_type="text/html")
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    arguments = [
        "collect",
        "reddit",
        "--subreddit",
        "india",
        "--subreddit",
        "Philippines",
        "--no-comments",
        "--landing",
        str(landing),
        "--warehouse",
        str(warehouse),
    ]

    assert main(arguments) == 1
    failed = capsys.readouterr().out  # what was fetched before the failure, and where the next run resumes
    assert "2 pages" in failed and "Failed: GET /r/Philippines/search: gave up after 6 attempts (503)" in failed
    assert seen_after == [""] + ["t3_p2"] * 6

    broken["page 2"] = False
    assert main(arguments) == 0
    output = capsys.readouterr().out
    assert seen_after[7:] == ["t3_p2"]  # page 1 is not fetched again
    assert output.count("Malformed page") == 1 and "r_india_search" in output  # landed as is, and reported
    landed = sorted(path.name for path in (landing / "reddit_api").glob("*.json"))
    assert len(landed) == 2 + 2 and not list(landing.rglob("*.partial"))
    # The malformed listing is not marked done (its first page: nothing recorded), so the next run asks again.
    with duckdb.connect(str(collect_state_file(warehouse, "reddit")), read_only=True) as conn:
        states = dict(conn.execute("select query_key, state from collect.state").fetchall())
    assert "india:search" not in states
    assert json.loads(states["Philippines:search"]) == {"newest_created_utc": 2000.0, "tracked": {}}


@pytest.mark.slow
def test_the_job_collects_the_sources_turned_on_then_loads_their_pages(httpserver, reddit_env, tmp_path, monkeypatch):
    """Reddit on and answering; TikTok on but failing for good (a warning check: the run still loads what
    landed); Arctic Shift off."""
    import dagster as dg

    config = yaml.safe_load(DEFAULT_COLLECTION_PATH.read_text(encoding="utf-8"))
    config["reddit"] |= {"nightly": True, "comments": False, "subreddits": [config["reddit"]["subreddits"][6]]}
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    config["tiktok"] |= {"nightly": True, "comments": False, "start": str(yesterday)}
    (tmp_path / "collection.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.setenv(COLLECTION_ENV, str(tmp_path / "collection.yaml"))
    for name, value in {
        TIKTOK_API_URL_ENV: httpserver.url_for("").rstrip("/"),
        TIKTOK_CLIENT_KEY_ENV: "client-key",
        TIKTOK_CLIENT_SECRET_ENV: SECRET,
    }.items():
        monkeypatch.setenv(name, value)
    httpserver.expect_request("/v2/oauth/token/").respond_with_json({"access_token": TOKEN, "expires_in": 7200})
    httpserver.expect_request("/v2/research/video/query/").respond_with_json(
        {"error": {"code": "internal_error"}}, status=500, headers={"Retry-After": "0"}
    )
    httpserver.expect_request("/r/Philippines/search").respond_with_json(
        listing([reddit_post("j1", 1_790_000_000), reddit_post("j2", 1_790_000_100)], None)
    )
    settings = settings_for(tmp_path / "warehouse.duckdb", landing=tmp_path / "landing")
    collected = [dg.AssetKey(["collect", name]) for name in ("reddit_api", "reddit_dump", "tiktok_research")]

    result = run_everything(settings, asset_selection=[*collected, dg.AssetKey(["raw", "reddit_api"])])

    assert result.success
    metadata = {e.asset_key: e.materialization.metadata for e in result.get_asset_materialization_events()}
    assert metadata[dg.AssetKey(["raw", "reddit_api"])]["records_loaded"].value == 2  # tonight's page, loaded
    reddit, arctic, tiktok = (metadata[key] for key in collected)
    assert reddit["collected"].value is True and reddit["pages"].value == 1 and reddit["records"].value == 2
    assert arctic["collected"].value is False and "nightly: false" in arctic["reason"].value
    assert "gave up after 6 attempts (500)" in tiktok["failed"].value and TOKEN not in str(tiktok)
    checks = {e.asset_key: e for e in result.get_asset_check_evaluations()}
    assert checks[collected[0]].passed and checks[collected[1]].passed
    assert not checks[collected[2]].passed and checks[collected[2]].severity == dg.AssetCheckSeverity.WARN


def test_a_malformed_page_deep_in_a_listing_is_asked_again_and_nothing_behind_it_is_skipped(httpserver, tmp_path):
    broken = {"page 2": True}

    def new(request: Request) -> Response:
        if request.args.get("after", "") == "":
            return json_response(listing([reddit_post("n3", 3000)], "t3_n3"))
        if broken["page 2"]:
            return Response("<html>oops</html>", content_type="text/html")
        return json_response(listing([reddit_post("n2", 2000)], None))

    httpserver.expect_request("/r/mentalhealth/new").respond_with_handler(new)
    state = CollectState(tmp_path / "warehouse.duckdb", "reddit")

    def run():
        client = ApiClient(httpserver.url_for(""), "tests", None, RetryPolicy(sleep=lambda s: None))
        collector = RedditCollector(client, state, PageWriter(tmp_path / "landing", "collected"), ())
        return collector.collect([Subreddit("mentalhealth", "", "new")])

    assert len(run().malformed) == 1
    assert state.get("mentalhealth:new")["pending"]["after"] == "t3_n3"  # not finalised at n3's time
    broken["page 2"] = False
    assert run().records == 1  # page 2 again, not page 1
    assert state.get("mentalhealth:new") == {"newest_created_utc": 3000.0, "tracked": {}}


def reddit_comment(comment_id: str, post_id: str, parent: str = "", replies: list[dict] | None = None) -> dict:
    data = {
        "id": comment_id,
        "name": f"t1_{comment_id}",
        "link_id": f"t3_{post_id}",
        "parent_id": parent or f"t3_{post_id}",
        "body": "My family calls it weakness too.",
        "author": "replier",
        "subreddit": "mentalhealth",
        "created_utc": 1_790_000_500,
        "replies": listing(replies, None) if replies else "",
    }
    return {"kind": "t1", "data": data}


def test_comment_trees_are_expanded_and_later_comments_on_recent_posts_are_collected(httpserver, tmp_path):
    """A tree's `more` stubs (ids -> /api/morechildren; "continue this thread" -> the parent's subtree),
    then, on later nights, the tree again of each recent post whose comment count grew."""
    day = 86_400
    clock = [1_790_010_000.0]
    posts = [reddit_post("q2", 1_790_000_200, "mentalhealth"), reddit_post("q1", 1_790_000_100, "mentalhealth")]
    posts[0]["data"]["num_comments"], posts[1]["data"]["num_comments"] = 0, 5
    counts = {"q1": 5, "q2": 0}
    continue_stub = {"kind": "more", "data": {"id": "_", "count": 0, "children": [], "parent_id": "t1_c2"}}
    ids_stub = {"kind": "more", "data": {"id": "c3", "count": 2, "children": ["c3", "c4"], "parent_id": "t3_q1"}}
    extra: list[dict] = []  # comments written after the first night

    def new(request: Request) -> Response:
        return json_response(listing(posts, None))

    def tree(request: Request) -> Response:
        post_id = request.path.rsplit("/", 1)[-1]
        head = listing([reddit_post(post_id, 1_790_000_100, "mentalhealth")], None)
        if request.args.get("comment") == "c2":  # the subtree behind "continue this thread"
            return json_response(
                [head, listing([reddit_comment("c2", "q1", "t1_c1", [reddit_comment("c5", "q1", "t1_c2")])], None)]
            )
        if post_id == "q2":
            return json_response([head, listing([], None)])
        c1 = reddit_comment("c1", "q1", replies=[reddit_comment("c2", "q1", "t1_c1", [continue_stub])])
        return json_response([head, listing([c1, ids_stub, *extra], None)])

    def morechildren(request: Request) -> Response:
        assert request.args["link_id"] == "t3_q1" and request.args["api_type"] == "json"
        things = [reddit_comment(i, "q1") for i in request.args["children"].split(",")]
        return json_response({"json": {"errors": [], "data": {"things": things}}})

    def info(request: Request) -> Response:
        ids = [fullname.removeprefix("t3_") for fullname in request.args["id"].split(",")]
        found = [reddit_post(i, 1_790_000_100, "mentalhealth") for i in ids]
        for post in found:
            post["data"]["num_comments"] = counts[post["data"]["id"]]
        return json_response(listing(found, None))

    httpserver.expect_request("/r/mentalhealth/new").respond_with_handler(new)
    httpserver.expect_request(re.compile("^/comments/")).respond_with_handler(tree)
    httpserver.expect_request("/api/morechildren").respond_with_handler(morechildren)
    httpserver.expect_request("/api/info").respond_with_handler(info)
    state, landing = CollectState(tmp_path / "warehouse.duckdb", "reddit"), tmp_path / "landing"

    def night():
        client = ApiClient(httpserver.url_for(""), "tests", None, RetryPolicy(sleep=lambda s: None))
        collector = RedditCollector(
            client, state, PageWriter(landing / "reddit_api", "collected"), (), comments=True, now=lambda: clock[0]
        )
        before = len(httpserver.log)
        summary = collector.collect([Subreddit("mentalhealth", "", "new")])
        return summary, [(r.path, r.args.get("comment") or r.args.get("id") or "") for r, _ in httpserver.log[before:]]

    first, asked = night()
    assert asked == [
        ("/r/mentalhealth/new", ""),
        ("/comments/q2", ""),
        ("/comments/q1", ""),
        ("/api/morechildren", ""),
        ("/comments/q1", "c2"),
    ]
    assert httpserver.log[3][0].args["children"] == "c3,c4"
    with duckdb.connect() as conn:  # the loader reads every comment: nested replies and held-back ones
        load_landing_folder(conn, REDDIT_API, landing / "reddit_api")
        comments = {
            row[0] for row in conn.execute("select record_id from raw.reddit_api where entity = 'comment'").fetchall()
        }
    assert comments == {"c1", "c2", "c3", "c4", "c5"}

    # The next night: no new post; q1 gained a comment, q2 did not. Only q1's tree is fetched again.
    clock[0] += day
    counts["q1"], extra[:] = 6, [reddit_comment("c6", "q1")]
    second, asked = night()
    assert asked[:2] == [("/r/mentalhealth/new", ""), ("/api/info", "t3_q2,t3_q1")]
    assert [a for a in asked if a[0].startswith("/comments/")] == [("/comments/q1", ""), ("/comments/q1", "c2")]
    assert second.records >= 2 + 1  # two posts' counts and the new comment among the tree again

    # Past the refresh window (7 days) the posts are no longer checked, and no longer tracked.
    clock[0] += 8 * day
    _, asked = night()
    assert asked == [("/r/mentalhealth/new", "")]
    assert state.get("mentalhealth:new")["tracked"] == {}


def test_http_core_unit_behaviour_with_respx():
    """Token renewal a minute before expiry, timeouts retried, a spent quota never retried, secrets redacted."""
    import httpx
    import respx

    from stigma_insights.assets.collect.http import QuotaExhausted

    clock = [0.0]
    issued = iter(["token-a", "token-b"])
    token = BearerToken(lambda: (next(issued), 3600), clock=lambda: clock[0])
    waits: list[float] = []
    client = ApiClient(
        "https://api.test",
        "tests",
        token,
        RetryPolicy(sleep=waits.append),
        secrets=(SECRET,),
        is_quota_exhausted=lambda response: response.status_code == 429 and "quota" in response.text,
    )
    with respx.mock(base_url="https://api.test", assert_all_called=True) as mock:
        thing = mock.get("/thing")
        thing.side_effect = [httpx.ConnectTimeout("slow"), httpx.Response(200, json={"n": 1}), httpx.Response(200)]
        assert client.send("GET", "/thing").json() == {"n": 1} and len(waits) == 1  # the timeout, retried
        clock[0] = 3600 - 59  # within a minute of expiry: a new token before the request
        client.send("GET", "/thing")
        assert [call.request.headers["Authorization"] for call in thing.calls] == ["Bearer token-a"] * 2 + [
            "Bearer token-b"
        ]

        spent = mock.get("/spent").respond(429, text="daily quota exceeded")
        with pytest.raises(QuotaExhausted):
            client.send("GET", "/spent")
        assert spent.call_count == 1  # no retry storm

        mock.get("/echo").respond(400, text=f"bad client_secret={SECRET} with token-b")
        with pytest.raises(Exception) as raised:
            client.send("GET", "/echo")
        assert SECRET not in str(raised.value) and "token-b" not in str(raised.value)
        assert str(raised.value).count("[redacted]") == 2


def test_history_days_are_partitions_in_their_api_pool_and_a_spent_quota_fails_the_day_unasked(
    httpserver, tmp_path, monkeypatch, session_settings
):
    """Backfills: one UTC day per partition, each API in its own pool of one; a day whose quota TikTok
    already refused fails without a request, and is materialised once run again on a new quota day."""
    import dagster as dg

    from stigma_insights.orchestration.definitions import MATERIALISE_EVERYTHING, build_definitions

    url = httpserver.url_for("").rstrip("/")
    for name, value in {
        TIKTOK_API_URL_ENV: url,
        TIKTOK_CLIENT_KEY_ENV: "client-key",
        TIKTOK_CLIENT_SECRET_ENV: SECRET,
        ARCTIC_SHIFT_URL_ENV: url,
    }.items():
        monkeypatch.setenv(name, value)
    httpserver.expect_request("/v2/oauth/token/", method="POST").respond_with_json(
        {"access_token": TOKEN, "expires_in": 7200}
    )
    httpserver.expect_request("/v2/research/video/query/").respond_with_handler(
        lambda request: video_page([tiktok_video(9, 1_790_000_000)], 1, False, "s")
    )
    httpserver.expect_request("/v2/research/video/comment/list/").respond_with_json(
        {"data": {"comments": [], "cursor": 0, "has_more": False}, "error": {"code": "ok"}}
    )
    day_start, day_end = 1_790_985_600, 1_791_072_000  # 2026-10-03 00:00 UTC and 2026-10-04 00:00 UTC
    windows: set[tuple[str, str]] = set()

    def arctic(request: Request) -> Response:
        windows.add((request.args["after"], request.args["before"]))
        india = request.path == "/api/posts/search" and request.args["subreddit"] == "india"
        return json_response({"data": [{"id": "h1", "title": "t", "created_utc": day_start + 60}] if india else []})

    httpserver.expect_request(re.compile("^/api/(posts|comments)/search$")).respond_with_handler(arctic)
    settings = settings_for(tmp_path / "warehouse.duckdb", landing=tmp_path / "landing")
    definitions = build_definitions(settings)
    tiktok_history, tiktok_nightly = (
        dg.AssetKey([group, "tiktok_research"]) for group in ("collect_history", "collect")
    )
    assert definitions.get_assets_def(tiktok_history).op.pool == "tiktok_research_api"
    assert definitions.get_assets_def(tiktok_nightly).op.pool == "tiktok_research_api"
    nightly_keys = definitions.resolve_job_def(MATERIALISE_EVERYTHING).asset_layer.selected_asset_keys
    assert tiktok_nightly in nightly_keys and tiktok_history not in nightly_keys

    quota = CollectState(settings.warehouse, "tiktok")
    quota.spend(datetime.now(UTC).date().isoformat(), 0, 0, refused=True)
    refused = run_job(settings, "backfill_tiktok_research", partition_key="2026-10-03")
    assert not refused.success and not httpserver.log  # not even a token request
    (failure,) = [event for event in refused.all_events if event.is_step_failure]
    assert "TikTok refused a request" in str(failure.step_failure_data.user_failure_data.description)

    with duckdb.connect(str(collect_state_file(settings.warehouse, "tiktok"))) as conn:
        conn.execute("delete from collect.quota")  # the next UTC day
    done = run_job(settings, "backfill_tiktok_research", partition_key="2026-10-03")
    assert done.success
    (materialised,) = done.get_asset_materialization_events()
    assert materialised.partition == "2026-10-03" and materialised.materialization.metadata["records"].value == 1
    query = json.loads(httpserver.log[1][0].get_data())  # after the token
    assert (query["start_date"], query["end_date"]) == ("20261003", "20261003")

    arctic_day = run_job(settings, "backfill_reddit_dump", partition_key="2026-10-03")
    assert arctic_day.success and windows == {(str(day_start), str(day_end))}
    assert len(list((tmp_path / "landing" / "reddit_dump").glob("*.ndjson"))) == 1
    asked = len(httpserver.log)
    assert run_job(settings, "backfill_reddit_dump", partition_key="2026-10-03").success
    assert len(httpserver.log) == asked  # a closed day, read to its end, is never asked again


def test_on_a_lake_the_collectors_keep_their_state_beside_the_warehouse_file(httpserver, tmp_path, monkeypatch):
    """The DuckDB resource of a DuckLake warehouse has no file (its database is `:memory:`): the state
    must still land in `<warehouse>_collect/`, not in a `:memory:_collect` folder of the working directory."""
    import dataclasses

    from stigma_insights.settings import LakeSettings

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(ARCTIC_SHIFT_URL_ENV, httpserver.url_for("").rstrip("/"))
    httpserver.expect_request(re.compile("^/api/(posts|comments)/search$")).respond_with_json({"data": []})
    lake = LakeSettings(f"ducklake:{tmp_path / 'catalog.ducklake'}", str(tmp_path / "lake_files"))
    settings = dataclasses.replace(
        settings_for(tmp_path / "data" / "warehouse.duckdb", landing=tmp_path / "landing"), lake=lake
    )

    assert run_job(settings, "backfill_reddit_dump", partition_key="2026-10-03").success
    assert collect_state_file(settings.warehouse, "arctic-shift").exists()
    assert not list(tmp_path.glob("*memory*"))


def test_a_collector_killed_mid_run_resumes_at_its_page_and_leaves_no_half_file(httpserver, reddit_env, tmp_path):
    """SIGKILL while page 2 is in flight: page 1 and its state survive, nothing half-written is landed,
    and the next run asks for page 2, not page 1."""
    import os
    import signal
    import subprocess
    import sys
    import threading

    in_flight, release = threading.Event(), threading.Event()
    seen_after: list[str] = []

    def new(request: Request) -> Response:
        after = request.args.get("after", "")
        seen_after.append(after)
        if after == "":
            return json_response(listing([reddit_post("k2", 2000, "mentalhealth")], "t3_k2"))
        if len(seen_after) == 2:  # the killed run's page 2: held until the collector is dead
            in_flight.set()
            release.wait(60)
        return json_response(listing([reddit_post("k1", 1000, "mentalhealth")], None))

    httpserver.expect_request("/r/mentalhealth/new").respond_with_handler(new)
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    arguments = ["collect", "reddit", "--subreddit", "mentalhealth", "--no-comments"]
    arguments += ["--landing", str(landing), "--warehouse", str(warehouse)]
    collector = subprocess.Popen(
        [sys.executable, "-c", "import sys; from stigma_insights.orchestration.cli import main; sys.exit(main())"]
        + arguments,
        env=os.environ.copy(),
    )
    try:
        assert in_flight.wait(60), "the collector never asked for page 2"
        collector.send_signal(signal.SIGKILL)
        collector.wait(30)
    finally:
        release.set()

    pages = list((landing / "reddit_api").iterdir())
    assert len([p for p in pages if p.suffix == ".json"]) == 1 and not [p for p in pages if "partial" in p.name]
    assert CollectState(warehouse, "reddit").get("mentalhealth:new")["pending"]["after"] == "t3_k2"

    assert main(arguments) == 0
    assert seen_after == ["", "t3_k2", "t3_k2"]  # page 2 asked again, page 1 not
    assert CollectState(warehouse, "reddit").get("mentalhealth:new")["newest_created_utc"] == 2000.0
