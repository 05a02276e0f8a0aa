"""The collectors against a real HTTP stand-in on loopback (pytest-httpserver): paging, retries,
token renewal, quotas, resuming, and credentials that never reach a file or a message."""

import csv
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest
import yaml
from werkzeug import Request, Response

from stigma_insights.assets.collect.collectors import RedditCollector, TikTokCollector, tiktok_quota_exhausted
from stigma_insights.assets.collect.config import DEFAULT_COLLECTION_PATH, Subreddit, load_collection
from stigma_insights.assets.collect.http import ApiClient, BearerToken, RetryPolicy
from stigma_insights.assets.collect.pages import CollectState, PageWriter, collect_state_file
from stigma_insights.orchestration.cli import main
from stigma_insights.settings import (
    ARCTIC_SHIFT_URL_ENV,
    COLLECTION_ENV,
    REDDIT_API_URL_ENV,
    REDDIT_AUTH_URL_ENV,
    REDDIT_CLIENT_ID_ENV,
    REDDIT_CLIENT_SECRET_ENV,
    REDDIT_USER_AGENT_ENV,
    TIKTOK_CLIENT_KEY_ENV,
    TIKTOK_CLIENT_SECRET_ENV,
)

from conftest import REPO_ROOT, run_everything, settings_for

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


def test_missing_credentials_name_the_variable_and_write_nothing(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv(TIKTOK_CLIENT_KEY_ENV, raising=False)
    monkeypatch.setenv(TIKTOK_CLIENT_SECRET_ENV, SECRET)

    assert (
        main(["collect", "tiktok", "--landing", str(tmp_path / "landing"), "--warehouse", str(tmp_path / "w.duckdb")])
        == 2
    )
    assert TIKTOK_CLIENT_KEY_ENV in capsys.readouterr().err
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
        client = ApiClient(
            httpserver.url_for(""),
            "tests",
            BearerToken(lambda: (TOKEN, 7200)),
            RetryPolicy(sleep=lambda s: None),
            is_quota_exhausted=tiktok_quota_exhausted,
        )
        state = CollectState(warehouse, "tiktok")
        return TikTokCollector(client, state, PageWriter(folder, "collected"), {"or": []}, today=today)

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
    client = ApiClient(
        httpserver.url_for(""),
        "tests",
        BearerToken(lambda: (TOKEN, 7200)),
        RetryPolicy(sleep=lambda s: None),
        is_quota_exhausted=tiktok_quota_exhausted,
    )
    collector = TikTokCollector(client, CollectState(warehouse, "tiktok"), PageWriter(tmp_path, "c"), {"or": []})

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
    import dagster as dg

    config = yaml.safe_load(DEFAULT_COLLECTION_PATH.read_text(encoding="utf-8"))
    config["reddit"] |= {"nightly": True, "comments": False, "subreddits": [config["reddit"]["subreddits"][6]]}
    (tmp_path / "collection.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.setenv(COLLECTION_ENV, str(tmp_path / "collection.yaml"))
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
    assert tiktok["collected"].value is False and TOKEN not in str(reddit)


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
