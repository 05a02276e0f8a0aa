"""The collection design (which subreddits, searches and TikTok queries), read from a versioned YAML file."""

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import yaml

DEFAULT_COLLECTION_PATH = Path(__file__).with_name("collection.yaml")
LISTINGS = ("new", "search")


@dataclass(frozen=True)
class Subreddit:
    name: str
    country: str  # ISO code, '' for a global subreddit
    listing: str  # new or search


@dataclass(frozen=True)
class TikTokQuery:
    keywords: tuple[str, ...]
    hashtags: tuple[str, ...]
    region_codes: tuple[str, ...]

    def as_research_query(self) -> dict:
        """The Research API query object: any keyword or hashtag, from these regions."""
        matches = (
            [{"operation": "IN", "field_name": "keyword", "field_values": list(self.keywords)}] if self.keywords else []
        )
        if self.hashtags:
            matches.append({"operation": "IN", "field_name": "hashtag_name", "field_values": list(self.hashtags)})
        query: dict = {"or": matches}
        if self.region_codes:
            query["and"] = [{"operation": "IN", "field_name": "region_code", "field_values": list(self.region_codes)}]
        return query


@dataclass(frozen=True)
class Collection:
    version: str
    subreddits: tuple[Subreddit, ...]
    search_terms: tuple[str, ...]
    reddit_comments: bool
    reddit_comments_refresh_days: int  # comments added to posts younger than this are collected too
    arctic_shift_after: date
    arctic_shift_comments: bool
    tiktok_query: TikTokQuery
    tiktok_start: date
    tiktok_comments: bool
    nightly: frozenset[str]  # sources the Dagster job collects: reddit, arctic-shift, tiktok

    def subreddit(self, name: str) -> Subreddit:
        """A configured subreddit, or one given on the command line (searched, no country)."""
        for subreddit in self.subreddits:
            if subreddit.name.lower() == name.lower():
                return subreddit
        return Subreddit(name, "", "new")


class CollectionConfigError(ValueError):
    pass


def load_collection(path: Path = DEFAULT_COLLECTION_PATH) -> Collection:
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        reddit, arctic, tiktok = document["reddit"], document["arctic_shift"], document["tiktok"]
        subreddits = tuple(
            Subreddit(s["name"], s.get("country") or "", s.get("listing", "new")) for s in reddit["subreddits"]
        )
        query = tiktok["query"]
        collection = Collection(
            version=str(document["version"]),
            subreddits=subreddits,
            search_terms=tuple(reddit.get("search_terms", ())),
            reddit_comments=bool(reddit.get("comments", False)),
            reddit_comments_refresh_days=int(reddit.get("comments_refresh_days", 7)),
            arctic_shift_after=date.fromisoformat(str(arctic["after"])),
            arctic_shift_comments=bool(arctic.get("comments", False)),
            tiktok_query=TikTokQuery(
                tuple(query.get("keywords", ())), tuple(query.get("hashtags", ())), tuple(query.get("region_codes", ()))
            ),
            tiktok_start=date.fromisoformat(str(tiktok["start"])),
            tiktok_comments=bool(tiktok.get("comments", False)),
            nightly=frozenset(
                source
                for source, section in (("reddit", reddit), ("arctic-shift", arctic), ("tiktok", tiktok))
                if section.get("nightly", False)
            ),
        )
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as error:
        raise CollectionConfigError(f"{path}: not a valid collection file ({error!r})") from error
    bad = [s.name for s in collection.subreddits if s.listing not in LISTINGS]
    if bad:
        raise CollectionConfigError(f"{path}: listing must be one of {LISTINGS} (subreddits {bad})")
    return collection
