"""Write realistic landing files in the four source formats, at any size, for benchmarks.

Text is real: sentences from the CAMS and Dreaddit Reddit posts in ../shared/data, recombined so that
each post has the sentence count of a real post (lengths and vocabulary stay real) while texts stay
distinct. Ids, authors, times, subreddits and regions are synthetic. A few malformed lines and exact
duplicate lines are mixed in, as real exports have them.

    python bench/generate_landing.py --size 100000 --out /tmp/landing [--seed 1] [--first-id 0]

`--first-id` lets a second call add new records (a nightly delta) without reusing ids.
"""

import argparse
import json
import os
import re
from pathlib import Path

import numpy as np
import polars as pl
import zstandard

SHARED_DATA = Path(
    os.environ.get("STIGMA_INSIGHTS_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)
SUBREDDITS = [
    "mentalhealth",
    "depression",
    "Anxiety",
    "offmychest",
    "ptsd",
    "bipolar",
    "therapy",
    "stress",
    "relationships",
    "domesticviolence",
    "Philippines",
    "mentalhealthph",
    "india",
    "korea",
    "Nigeria",
    "unitedkingdom",
    "canada",
    "australia",
    "singapore",
    "malaysia",
    "pakistan",
]
REGION_CODES = ["US", "PH", "IN", "KR", "NG", "GB", "CA", "AU", "SG", "MY", "ID", "BR", "MX", "DE"]
HASHTAGS = ["mentalhealth", "stigma", "therapy", "anxiety", "depression", "family", "worklife", "selflove"]
# Share of records per (format, entity); the NDJSON formats dominate, as in real collections.
MIX = {
    ("reddit_dump", "submission"): 0.15,
    ("reddit_dump", "comment"): 0.45,
    ("zeeschuimer", "video"): 0.08,
    ("zeeschuimer", "comment"): 0.24,
    ("tiktok_research", "video"): 0.02,
    ("tiktok_research", "comment"): 0.04,
    ("reddit_api", "submission"): 0.02,
}
NDJSON_LINES_PER_FILE = 250_000
API_ITEMS_PER_PAGE = 100
MALFORMED_SHARE = 0.001
DUPLICATE_SHARE = 0.003
EPOCH_START = 1_767_225_600  # 2026-01-01


class RealText:
    """Sentences of real posts, and the sentence counts of real posts, to recombine."""

    def __init__(self, rng: np.random.Generator, texts: list[str]):
        split = [[s.strip() for s in re.split(r"(?<=[.!?])\s+", t) if len(s.strip()) > 3] for t in texts]
        self.sentences = np.asarray([s for sentences in split for s in sentences], dtype=object)
        self.post_sentence_counts = np.asarray([len(s) for s in split if s])
        self.rng = rng

    def sample(self, counts: np.ndarray) -> list[str]:
        picks = self.rng.integers(0, len(self.sentences), int(counts.sum()))
        bounds = np.concatenate([[0], np.cumsum(counts)])
        return [" ".join(self.sentences[picks[a:b]]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def posts(self, n: int) -> list[str]:
        return self.sample(self.rng.choice(self.post_sentence_counts, n))

    def comments(self, n: int, most: int) -> list[str]:
        return self.sample(self.rng.integers(1, most + 1, n))


def shared_real_texts() -> list[str]:
    """Real Reddit posts from ../shared/data (or STIGMA_INSIGHTS_SHARED_DATA): Dreaddit and CAMS."""
    if not (SHARED_DATA / "dreaddit").is_dir() or not (SHARED_DATA / "cams").is_dir():
        raise SystemExit(
            f"the benchmark's real texts are not at {SHARED_DATA} (dreaddit/ and cams/):"
            " set STIGMA_INSIGHTS_SHARED_DATA to the shared data folder"
        )
    return (
        pl.read_csv(SHARED_DATA / "dreaddit" / "train.csv")["text"].to_list()
        + pl.read_csv(SHARED_DATA / "cams" / "IntentSDCNL_Training.csv", encoding="utf8-lossy")["selftext"]
        .drop_nulls()
        .to_list()
    )


def base36(number: int) -> str:
    return np.base_repr(number, 36).lower()


def generate(size: int, out: Path, seed: int = 1, first_id: int = 0, texts: list[str] | None = None) -> dict[str, int]:
    """`texts`: the posts whose sentences are recombined (default: the real ones in ../shared/data)."""
    rng = np.random.default_rng(seed)
    text = RealText(rng, texts if texts is not None else shared_real_texts())
    counts = {key: max(1, round(size * share)) for key, share in MIX.items()}
    authors = [f"user_{base36(i + 7**7)}" for i in range(max(10, size // 5))]
    tag = f"{first_id:09d}"
    next_id = iter(range(first_id + 10**9, first_id + 10**9 + 10 * size))
    created = lambda n: EPOCH_START + rng.integers(0, 300 * 86400, n)  # noqa: E731
    author = lambda: authors[rng.integers(len(authors))]  # noqa: E731

    submissions = []
    titles = text.comments(counts[("reddit_dump", "submission")], 1)
    for title, body, when in zip(titles, text.posts(len(titles)), created(len(titles)), strict=True):
        sub = SUBREDDITS[rng.integers(len(SUBREDDITS))]
        post_id = base36(next(next_id))
        submissions.append(
            {
                "author": author(),
                "created_utc": int(when),
                "id": post_id,
                "name": f"t3_{post_id}",
                "num_comments": int(rng.integers(0, 50)),
                "permalink": f"/r/{sub}/comments/{post_id}/post/",
                "retrieved_on": int(when) + 60,
                "score": int(rng.integers(0, 500)),
                "selftext": body,
                "subreddit": sub,
                "title": title[:300],
            }
        )
    comments = []
    n_comments = counts[("reddit_dump", "comment")]
    for body, when in zip(text.comments(n_comments, 4), created(n_comments), strict=True):
        parent = submissions[rng.integers(len(submissions))]
        comment_id = base36(next(next_id))
        comments.append(
            {
                "author": author(),
                "body": body,
                "created_utc": int(when),
                "id": comment_id,
                "link_id": f"t3_{parent['id']}",
                "parent_id": f"t3_{parent['id']}",
                "retrieved_on": int(when) + 60,
                "score": int(rng.integers(0, 100)),
                "subreddit": parent["subreddit"],
            }
        )
    write_ndjson(out / "reddit_dump", f"RS_{tag}", submissions, rng, compress_last=True)
    write_ndjson(out / "reddit_dump", f"RC_{tag}", comments, rng)

    videos = []
    n_videos = counts[("zeeschuimer", "video")] + counts[("tiktok_research", "video")]
    for caption, when in zip(text.comments(n_videos, 2), created(n_videos), strict=True):
        tags = list(rng.choice(HASHTAGS, 3, replace=False))
        videos.append(
            (
                str(next(next_id) * 1000 + 7),
                caption + " " + " ".join(f"#{t}" for t in tags),
                tags,
                int(when),
                REGION_CODES[rng.integers(len(REGION_CODES))],
                author(),
            )
        )
    zee_videos, research_videos = videos[: counts[("zeeschuimer", "video")]], videos[counts[("zeeschuimer", "video")] :]
    n_tiktok_comments = counts[("zeeschuimer", "comment")] + counts[("tiktok_research", "comment")]
    tiktok_comments = [
        (str(next(next_id) * 1000 + 9), body[:400], videos[rng.integers(len(videos))][0], int(when), author())
        for body, when in zip(text.comments(n_tiktok_comments, 2), created(n_tiktok_comments), strict=True)
    ]
    zee_comments = tiktok_comments[: counts[("zeeschuimer", "comment")]]
    research_comments = tiktok_comments[counts[("zeeschuimer", "comment")] :]
    zeeschuimer_items = [
        {
            "data": {
                "author": {"uniqueId": handle, "nickname": handle},
                "challenges": [{"title": t} for t in tags],
                "createTime": when,
                "desc": desc,
                "id": video_id,
                "locationCreated": region,
                "stats": {"commentCount": 3, "diggCount": 40},
            },
            "item_id": video_id,
            "source_platform": "tiktok.com",
            "timestamp_collected": (when + 3600) * 1000,
        }
        for video_id, desc, tags, when, region, handle in zee_videos
    ] + [
        {
            "data": {
                "aweme_id": video_id,
                "cid": comment_id,
                "create_time": when,
                "id": comment_id,
                "reply_id": "0",
                "text": body,
                "user": {"unique_id": handle, "nickname": handle},
            },
            "item_id": comment_id,
            "source_platform": "tiktok-comments",
            "timestamp_collected": (when + 3600) * 1000,
        }
        for comment_id, body, video_id, when, handle in zee_comments
    ]
    write_ndjson(out / "zeeschuimer", f"zeeschuimer_{tag}", zeeschuimer_items, rng)

    research_pages = [
        {
            "data": {
                "videos": [
                    {
                        "id": int(v),
                        "create_time": when,
                        "username": handle,
                        "region_code": region,
                        "video_description": desc,
                        "hashtag_names": tags,
                        "voice_to_text": "",
                        "like_count": 10,
                    }
                    for v, desc, tags, when, region, handle in page
                ],
                "cursor": 100,
                "has_more": True,
            },
            "error": {"code": "ok", "message": ""},
        }
        for page in chunks(research_videos, API_ITEMS_PER_PAGE)
    ] + [
        {
            "data": {
                "comments": [
                    {
                        "id": int(c),
                        "video_id": int(v),
                        "text": body,
                        "parent_comment_id": int(v),
                        "create_time": when,
                        "like_count": 1,
                    }
                    for c, body, v, when, _ in page
                ],
                "cursor": 100,
                "has_more": True,
            },
            "error": {"code": "ok", "message": ""},
        }
        for page in chunks(research_comments, API_ITEMS_PER_PAGE)
    ]
    write_documents(out / "tiktok_research", f"research_{tag}", research_pages)

    api_submissions = [dict(s, id=base36(next(next_id))) for s in submissions[: counts[("reddit_api", "submission")]]]
    listings = [
        {"kind": "Listing", "data": {"after": None, "children": [{"kind": "t3", "data": s} for s in page]}}
        for page in chunks(api_submissions, API_ITEMS_PER_PAGE)
    ]
    write_documents(out / "reddit_api", f"listing_{tag}", listings)
    return {f"{fmt}/{entity}": n for (fmt, entity), n in counts.items()}


def chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def write_ndjson(folder: Path, stem: str, records: list[dict], rng: np.random.Generator, compress_last=False) -> None:
    """NDJSON files of at most NDJSON_LINES_PER_FILE records, with malformed and duplicated lines mixed in."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = chunks(records, NDJSON_LINES_PER_FILE)
    for number, part in enumerate(parts):
        lines = [json.dumps(r, ensure_ascii=False) for r in part]
        for index in rng.integers(0, len(lines), int(len(lines) * DUPLICATE_SHARE)):
            lines.append(lines[index])
        for index in rng.integers(0, len(lines), int(len(lines) * MALFORMED_SHARE)):
            lines[index] = lines[index][: len(lines[index]) // 2]  # a line cut off mid-record
        data = ("\n".join(lines) + "\n").encode()
        if compress_last and number == len(parts) - 1:
            params = zstandard.ZstdCompressionParameters.from_level(3, window_log=27, enable_ldm=True)
            compressor = zstandard.ZstdCompressor(compression_params=params)
            (folder / f"{stem}_{number:03d}.zst").write_bytes(compressor.compress(data))
        else:
            (folder / f"{stem}_{number:03d}.ndjson").write_bytes(data)


def write_documents(folder: Path, stem: str, documents: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for number, document in enumerate(documents):
        with open(folder / f"{stem}_{number:05d}.json", "w", encoding="utf-8") as handle:
            json.dump(document, handle, ensure_ascii=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, required=True, help="number of records (posts and comments)")
    parser.add_argument("--out", type=Path, required=True, help="landing folder to write into")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--first-id", type=int, default=0, help="offset for ids and file names (deltas)")
    args = parser.parse_args()
    counts = generate(args.size, args.out, args.seed, args.first_id)
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
