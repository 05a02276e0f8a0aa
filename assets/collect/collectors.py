"""The three collectors: Reddit Data API listings, the Arctic Shift archive, the TikTok Research API.

Each writes what its API returns, page by page, into the landing folder of the format the loaders
already read (Reddit listing JSON -> reddit_api/, Arctic Shift records as NDJSON -> reddit_dump/,
Research API responses -> tiktok_research/), and records its position after every page, so a run that
fails or is killed resumes without fetching a page twice.
"""

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Protocol

import httpx

from stigma_insights.assets.collect.config import Collection, Subreddit
from stigma_insights.assets.collect.http import (
    ApiClient,
    BearerToken,
    CollectionError,
    CredentialsRefused,
    QuotaExhausted,
    RetryPolicy,
)
from stigma_insights.assets.collect.pages import CollectState, PageWriter

PAGE_LIMIT = 100  # the most any of the three APIs returns per request
MORECHILDREN_BATCH = 100  # comment ids per /api/morechildren request
ARCHIVE_LAG_DAYS = 2  # Arctic Shift may still add records of a day this long after it
TIKTOK_DAILY_REQUESTS = 1_000  # Research API quota per UTC day (shared by the organisation's collaborators)
TIKTOK_DAILY_RECORDS = 100_000
TIKTOK_VIDEO_FIELDS = (
    "id,video_description,create_time,region_code,share_count,view_count,like_count,comment_count,"
    "music_id,hashtag_names,username,effect_ids,playlist_id,voice_to_text,is_stem_verified,video_duration"
)
TIKTOK_COMMENT_FIELDS = "id,video_id,text,like_count,reply_count,parent_comment_id,create_time"


@dataclass
class Summary:
    source: str
    pages: int = 0
    records: int = 0
    files: list[Path] = field(default_factory=list)
    stopped: str = ""  # why the run stopped early (a spent quota), else ''
    failed: str = ""  # the request that failed for good, else ''
    malformed: list[str] = field(default_factory=list)  # pages kept as landed whose query could not go on

    def line(self, client: ApiClient) -> str:
        folders = sorted({str(path.parent) for path in self.files})
        text = (
            f"{self.source}: {self.pages} pages, {self.records} records, {client.requests_sent} requests;"
            f" files in {', '.join(folders) or '(none)'}"
        )
        for page in self.malformed:
            text += f"\nMalformed page (landed as is; the loader will refuse or reject it): {page}"
        if self.failed:
            text += (
                f"\nFailed: {self.failed}. The pages above are kept; the next run resumes at the request that failed."
            )
        return text + (f"\nStopped early: {self.stopped}" if self.stopped else "")


def collecting(summary: Summary, writer: PageWriter, steps: Iterable[Callable[[], None]]) -> Summary:
    """Run a collector's steps; a spent quota or a request that failed for good ends them with what was fetched."""
    try:
        for step in steps:
            step()
    except QuotaExhausted as error:
        summary.stopped = f"{error}. The next run (after 00:00 UTC) resumes where this one stopped."
    except CollectionError as error:
        summary.failed = str(error)
    summary.files, summary.pages = writer.written, writer.pages
    return summary


def throttle_by_headers(policy: RetryPolicy):
    """Reddit and Arctic Shift say how many requests are left and when the window resets: wait it out."""

    def after_response(response: httpx.Response) -> None:
        remaining = response.headers.get("X-Ratelimit-Remaining")
        reset = response.headers.get("X-Ratelimit-Reset")
        if remaining is not None and reset is not None and float(remaining) < 1:
            policy.sleep(float(reset))

    return after_response


def _request_record(response: httpx.Response) -> dict:
    """What fetched a page: method, URL (with its query) and body. Headers are left out: they hold the token."""
    request = response.request
    return {
        "method": request.method,
        "url": str(request.url),
        "body": request.content.decode("utf-8", "replace") or None,
        "status": response.status_code,
    }


def reddit_listing(response: httpx.Response, page: Path, summary: Summary) -> dict | None:
    """The page's Listing, or None when it is not one (no cursor to page on: noted in the summary)."""
    try:
        body = response.json()
        body["data"]["children"]
        return body
    except (ValueError, KeyError, TypeError):
        summary.malformed.append(f"{page.name} ({response.request.method} {response.request.url.path})")
        return None


def _epoch(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


# --- Reddit Data API -------------------------------------------------------------------------------


def reddit_token(auth_url: str, client_id: str, client_secret: str, user_agent: str) -> BearerToken:
    """App-only OAuth (client credentials): POST {auth_url}/api/v1/access_token with HTTP Basic auth."""

    def fetch() -> tuple[str, float]:
        response = httpx.post(
            f"{auth_url.rstrip('/')}/api/v1/access_token",
            auth=(client_id, client_secret),
            data={"grant_type": "client_credentials"},
            headers={"User-Agent": user_agent},
            timeout=60,
        )
        body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        if response.status_code != 200 or "access_token" not in body:
            # The body may echo what was sent: only the status and Reddit's error code are reported.
            raise CredentialsRefused(
                f"Reddit refused the credentials (HTTP {response.status_code}, {body.get('error')})"
            )
        return body["access_token"], float(body.get("expires_in", 3600))

    return BearerToken(fetch)


def walk_things(things: Iterable[dict]) -> Iterator[dict]:
    """Every thing of a comment page, replies included at any depth (they nest inside their parent)."""
    for thing in things:
        yield thing
        replies = thing.get("data", {}).get("replies") if isinstance(thing, dict) else None
        if isinstance(replies, dict):
            yield from walk_things(replies["data"]["children"])


def held_back(post_id: str, things: Iterable[dict]) -> list[dict]:
    """Requests for the comments a page holds back in its `more` stubs: their ids in batches for
    /api/morechildren, and a "continue this thread" stub (no ids) as the subtree of its parent."""
    ids: list[str] = []
    requests: list[dict] = []
    for stub in (thing["data"] for thing in things if thing.get("kind") == "more"):
        ids += stub.get("children") or []
        if not stub.get("children") and str(stub.get("parent_id", "")).startswith("t1_"):
            requests.append({"post": post_id, "focus": stub["parent_id"][3:]})
    batches = [ids[i : i + MORECHILDREN_BATCH] for i in range(0, len(ids), MORECHILDREN_BATCH)]
    return [{"post": post_id, "more": batch} for batch in batches] + requests


@dataclass
class RedditCollector:
    """Listings newest first down to the newest post already collected, then comments: the tree of each
    new post with what its `more` stubs hold back, and again the tree of a recent post whose comment
    count grew (checked with /api/info for the posts of the last `refresh_days` days)."""

    client: ApiClient
    state: CollectState
    writer: PageWriter
    search_terms: tuple[str, ...]
    since: datetime | None = None
    comments: bool = False
    refresh_days: int = 7
    now: Callable[[], float] = time.time

    def collect(self, subreddits: Iterable[Subreddit]) -> Summary:
        summary = Summary("reddit")
        return collecting(summary, self.writer, (partial(self._subreddit, s, summary) for s in subreddits))

    def _subreddit(self, subreddit: Subreddit, summary: Summary) -> None:
        """Each step saves its position after every page, so a failed or killed run resumes at that page."""
        key = f"{subreddit.name}:{subreddit.listing}"
        state = self.state.get(key)
        tracked: dict[str, list[float]] = state.get("tracked", {})  # post id -> [created_utc, num_comments]
        boundary = max(state.get("newest_created_utc", 0.0), self.since.timestamp() if self.since else 0.0)
        pending = state.get("pending") or {"after": None, "newest": boundary, "comments": [], "refresh": None}

        def save() -> None:
            self.state.put(key, {**state, "tracked": tracked, "pending": pending})

        complete = self._listing(subreddit, boundary, pending, tracked, save, summary)
        horizon = self.now() - self.refresh_days * 86_400
        if self.comments and complete:
            self._refresh(subreddit, horizon, pending, tracked, save, summary)
        while pending["comments"]:
            pending["comments"][1:1] = self._comment_page(pending["comments"][0], summary)
            pending["comments"].pop(0)
            save()
        if complete:
            recent = {post: seen for post, seen in tracked.items() if seen[0] >= horizon}
            self.state.put(key, {"newest_created_utc": pending["newest"], "tracked": recent})

    def _listing(self, subreddit: Subreddit, boundary: float, pending: dict, tracked: dict, save, summary) -> bool:
        """Pages of new posts from the `after` cursor; False when a page is malformed (no cursor to page on:
        the listing stays pending at that page for the next run)."""
        path, params = f"/r/{subreddit.name}/new", dict[str, str | int](limit=PAGE_LIMIT, raw_json=1)
        if subreddit.listing == "search":
            path = f"/r/{subreddit.name}/search"
            params |= {"q": " OR ".join(f'"{term}"' for term in self.search_terms), "restrict_sr": 1, "sort": "new"}
        while pending["after"] is not False:
            response = self.client.send("GET", path, params={**params, "after": pending["after"] or ""})
            page = self.writer.write(
                f"r_{subreddit.name}_{subreddit.listing}", response.content, _request_record(response)
            )
            body = reddit_listing(response, page, summary)
            if body is None:
                return False
            children = body["data"]["children"]
            posts = [child["data"] for child in children if child.get("kind") == "t3"]
            new = [post for post in posts if float(post["created_utc"]) > boundary]
            summary.records += len(children)
            pending["newest"] = max([pending["newest"], *(float(post["created_utc"]) for post in new)])
            if self.comments:
                pending["comments"] += [{"post": post["id"]} for post in new]
                tracked |= {post["id"]: [float(post["created_utc"]), post.get("num_comments", 0)] for post in new}
            after = body["data"].get("after")
            pending["after"] = after if after and len(new) == len(posts) and posts else False
            save()
        return True

    def _refresh(self, subreddit: Subreddit, horizon: float, pending: dict, tracked: dict, save, summary) -> None:
        """Comments added to older posts: the current comment count of each recent post (100 per request);
        a post whose count grew has its tree fetched again (the comments seen before are dropped by dedup)."""
        if pending["refresh"] is None:
            queued = {request["post"] for request in pending["comments"]}
            pending["refresh"] = [post for post, seen in tracked.items() if seen[0] >= horizon and post not in queued]
            save()
        while pending["refresh"]:
            batch = pending["refresh"][:PAGE_LIMIT]
            response = self.client.send(
                "GET", "/api/info", params={"id": ",".join(f"t3_{post}" for post in batch), "raw_json": 1}
            )
            page = self.writer.write(f"r_{subreddit.name}_info", response.content, _request_record(response))
            body = reddit_listing(response, page, summary)
            for post in [child["data"] for child in body["data"]["children"]] if body else []:
                summary.records += 1
                if post.get("id") in tracked and post.get("num_comments", 0) > tracked[post["id"]][1]:
                    tracked[post["id"]][1] = post["num_comments"]
                    pending["comments"].append({"post": post["id"]})
            pending["refresh"] = pending["refresh"][PAGE_LIMIT:]
            save()

    def _comment_page(self, request: dict, summary: Summary) -> list[dict]:
        """One page of comments (a post's tree, a thread's subtree or held-back ids); returns the requests
        for what it holds back in turn."""
        post = request["post"]
        if "more" in request:
            path, name = "/api/morechildren", f"morechildren_{post}"
            params = {"link_id": f"t3_{post}", "children": ",".join(request["more"]), "api_type": "json", "raw_json": 1}
        else:
            path, name = f"/comments/{post}", f"comments_{post}"
            params = {"raw_json": 1, "limit": 500} | ({"comment": request["focus"]} if "focus" in request else {})
        response = self.client.send("GET", path, params=params)
        page = self.writer.write(name, response.content, _request_record(response))
        try:
            body = response.json()
            things = list(
                walk_things(
                    body["json"]["data"]["things"]
                    if "more" in request
                    else [*body[0]["data"]["children"], *body[1]["data"]["children"]]
                )
            )
        except (ValueError, KeyError, TypeError, IndexError):
            summary.malformed.append(f"{page.name} (GET {path})")
            return []
        summary.records += sum(thing.get("kind") != "more" for thing in things)
        return held_back(post, things)


# --- Arctic Shift ----------------------------------------------------------------------------------


@dataclass
class ArcticShiftCollector:
    client: ApiClient
    state: CollectState
    writer: PageWriter
    after: date
    before: date | None = None
    comments: bool = False
    now: Callable[[], float] = time.time

    def collect(self, subreddits: Iterable[str]) -> Summary:
        summary = Summary("arctic-shift")
        kinds = ("posts", "comments") if self.comments else ("posts",)
        steps = (partial(self._search, name, kind, summary) for name in subreddits for kind in kinds)
        return collecting(summary, self.writer, steps)

    def _search(self, subreddit: str, kind: str, summary: Summary) -> None:
        """Oldest first from the last created_utc seen (records at the edge second may come twice: dedup drops
        them). The state is per window (`after`..`before`); a window that closed long enough ago for the
        archive to hold all of it is done once read to its end, and never asked again."""
        key = f"{subreddit}:{kind}:{self.after}:{self.before or ''}"
        state = self.state.get(key)
        if state.get("done"):
            return
        cursor = max(state.get("after", 0), _epoch(self.after))
        while True:
            params = {"subreddit": subreddit, "after": cursor, "limit": PAGE_LIMIT, "sort": "asc"}
            if self.before:
                params["before"] = _epoch(self.before)
            response = self.client.send("GET", f"/api/{kind}/search", params=params)
            try:
                records = response.json()["data"] or []
            except (ValueError, KeyError, TypeError):
                summary.malformed.append(f"{kind} search of r/{subreddit} after {cursor}: not an Arctic Shift answer")
                return
            if records:
                body = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records).encode()
                self.writer.write(f"{subreddit}_{kind}", body, _request_record(response), suffix=".ndjson")
                summary.records += len(records)
                newest = int(max(float(record["created_utc"]) for record in records))
                cursor = max(newest - 1, cursor + 1)  # the edge second again, but never the same page twice
                self.state.put(key, {"after": cursor})
            if len(records) < PAGE_LIMIT:
                break
        if self.before and _epoch(self.before) <= self.now() - ARCHIVE_LAG_DAYS * 86_400:
            self.state.put(key, {"after": cursor, "done": True})


# --- TikTok Research API ---------------------------------------------------------------------------


def tiktok_token(api_url: str, client_key: str, client_secret: str) -> BearerToken:
    """Client-credentials token (valid 2 h): POST {api_url}/v2/oauth/token/."""

    def fetch() -> tuple[str, float]:
        response = httpx.post(
            f"{api_url.rstrip('/')}/v2/oauth/token/",
            data={"client_key": client_key, "client_secret": client_secret, "grant_type": "client_credentials"},
            timeout=60,
        )
        body = response.json() if response.content else {}
        if response.status_code != 200 or "access_token" not in body:
            raise CredentialsRefused(
                f"TikTok refused the credentials (HTTP {response.status_code}, {body.get('error', 'no error code')})"
            )
        return body["access_token"], float(body.get("expires_in", 7200))

    return BearerToken(fetch)


def tiktok_quota_exhausted(response: httpx.Response) -> bool:
    try:
        return response.json().get("error", {}).get("code") == "daily_quota_limit_exceeded"
    except ValueError:
        return False


@dataclass
class TikTokCollector:
    """One query per UTC day (the Research API's natural unit), paged by cursor + search_id, within the
    daily budget of requests and records; a day is done once its videos and their comments are."""

    client: ApiClient
    state: CollectState
    writer: PageWriter
    query: dict
    comments: bool = False
    today: date = field(default_factory=lambda: datetime.now(UTC).date())
    _requests_counted: int = 0

    def collect(self, start: date, end: date) -> Summary:
        summary = Summary("tiktok")
        days = [start + timedelta(days=offset) for offset in range((end - start).days + 1)]
        return collecting(summary, self.writer, (partial(self._day, day, summary) for day in days))

    def _spend(self, records: int, refused: bool = False) -> None:
        """Every request sent since the last page counts (retries too: the API counts them), with the records."""
        sent = self.client.requests_sent - self._requests_counted
        self._requests_counted = self.client.requests_sent
        self.state.spend(self.today.isoformat(), sent, records, refused)

    def _check_budget(self) -> None:
        """Our own count, shared by every run of the day; and once TikTok has refused (the quota is shared
        with the organisation's other collaborators), no request until 00:00 UTC."""
        requests, records, refused = self.state.quota_used(self.today.isoformat())
        if refused or requests >= TIKTOK_DAILY_REQUESTS or records >= TIKTOK_DAILY_RECORDS:
            why = "TikTok refused a request (daily_quota_limit_exceeded)" if refused else "the budget is spent"
            raise QuotaExhausted(
                f"TikTok Research API quota for {self.today}: {why} ({requests} requests, {records} records)"
            )

    def _page(self, path: str, fields: str, body: dict, name: str) -> tuple[dict, list[dict]]:
        """One page of videos or comments: within the budget, counted against it and landed."""
        self._check_budget()
        try:
            response = self.client.send("POST", path, params={"fields": fields}, json=body)
        except QuotaExhausted:
            self._spend(0, refused=True)  # the refused request counts, and nothing more is sent today
            raise
        try:
            error = response.json().get("error", {})
        except ValueError:
            raise CollectionError(f"TikTok {path}: the answer is not JSON; the day resumes here next run") from None
        if error.get("code", "ok") != "ok":
            raise CollectionError(f"TikTok {path}: {error.get('code')}: {error.get('message', '')}")
        data = response.json()["data"]
        items = data.get("videos") or data.get("comments") or []
        self._spend(len(items))
        self.writer.write(name, response.content, _request_record(response))
        return data, items

    def _day(self, day: date, summary: Summary) -> None:
        key = f"videos:{day:%Y%m%d}"
        state = self.state.get(key) or {"cursor": 0, "search_id": None, "has_more": True, "comment_queue": []}
        if state.get("done"):
            return
        while state["has_more"]:
            body = {
                "query": self.query,
                "start_date": f"{day:%Y%m%d}",
                "end_date": f"{day:%Y%m%d}",
                "max_count": PAGE_LIMIT,
                "cursor": state["cursor"],
                **({"search_id": state["search_id"]} if state["search_id"] else {}),
            }
            data, videos = self._page("/v2/research/video/query/", TIKTOK_VIDEO_FIELDS, body, f"videos_{day:%Y%m%d}")
            summary.records += len(videos)
            if self.comments:
                state["comment_queue"] += [video["id"] for video in videos]
            state |= {
                "cursor": data.get("cursor", 0),
                "search_id": data.get("search_id"),
                "has_more": bool(data.get("has_more")),
            }
            self.state.put(key, state)
        while state["comment_queue"]:
            self._comments(state["comment_queue"][0], summary)
            state["comment_queue"].pop(0)
            self.state.put(key, state)
        self.state.put(key, {**state, "done": True})

    def _comments(self, video_id: int, summary: Summary) -> None:
        key = f"comments:{video_id}"
        state = self.state.get(key) or {"cursor": 0, "has_more": True}
        while state["has_more"]:
            body = {"video_id": video_id, "max_count": PAGE_LIMIT, "cursor": state["cursor"]}
            data, comments = self._page(
                "/v2/research/video/comment/list/", TIKTOK_COMMENT_FIELDS, body, f"comments_{video_id}"
            )
            summary.records += len(comments)
            state = {"cursor": data.get("cursor", 0), "has_more": bool(data.get("has_more"))}
            self.state.put(key, state)


# --- One way to build each collector, for the command line and the Dagster assets ------------------


class ApiConfig(Protocol):
    """What a collector needs of its API (the settings or the Dagster resource)."""

    @property
    def base_url(self) -> str: ...
    @property
    def auth_url(self) -> str: ...
    @property
    def client_id(self) -> str: ...
    @property
    def client_secret(self) -> str: ...
    @property
    def user_agent(self) -> str: ...


COLLECTED_FORMATS = {"reddit": "reddit_api", "arctic-shift": "reddit_dump", "tiktok": "tiktok_research"}


def build_collector(
    source: str,
    api: ApiConfig,
    collection: Collection,
    warehouse: Path,
    landing: Path,
    policy: RetryPolicy | None = None,
    comments: bool | None = None,
    subreddits: list[str] | None = None,
    since: datetime | None = None,
    after: date | None = None,
    before: date | None = None,
) -> tuple[Callable[..., Summary], ApiClient]:
    """The collector of `source` ready to run (its `collect`, to call with the dates or subreddits), and its client."""
    policy = policy or RetryPolicy()
    state = CollectState(warehouse, source)
    writer = PageWriter(landing / COLLECTED_FORMATS[source], "collected")
    secrets = (api.client_secret,)
    if source == "reddit":
        token = reddit_token(api.auth_url, api.client_id, api.client_secret, api.user_agent)
        client = ApiClient(
            api.base_url, api.user_agent, token, policy, secrets, after_response=throttle_by_headers(policy)
        )
        reddit = RedditCollector(
            client,
            state,
            writer,
            collection.search_terms,
            since,
            collection.reddit_comments if comments is None else comments,
            collection.reddit_comments_refresh_days,
        )
        chosen = [collection.subreddit(name) for name in subreddits] if subreddits else list(collection.subreddits)
        return (lambda: reddit.collect(chosen)), client
    if source == "arctic-shift":
        client = ApiClient(
            api.base_url, api.user_agent or "stigma-insights", None, policy, after_response=throttle_by_headers(policy)
        )
        arctic = ArcticShiftCollector(
            client,
            state,
            writer,
            after or collection.arctic_shift_after,
            before,
            collection.arctic_shift_comments if comments is None else comments,
        )
        names = subreddits or [subreddit.name for subreddit in collection.subreddits]
        return (lambda: arctic.collect(names)), client
    token = tiktok_token(api.base_url, api.client_id, api.client_secret)
    client = ApiClient(
        api.base_url,
        api.user_agent or "stigma-insights",
        token,
        policy,
        secrets,
        is_quota_exhausted=tiktok_quota_exhausted,
    )
    tiktok = TikTokCollector(
        client,
        state,
        writer,
        collection.tiktok_query.as_research_query(),
        collection.tiktok_comments if comments is None else comments,
    )
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    return (lambda start=None, end=None: tiktok.collect(start or collection.tiktok_start, end or yesterday)), client
