"""The source formats we land, described as data so that one set-based loader serves them all.

Each format says how a landed file splits into items (NDJSON lines, the arrays inside one JSON
document, or the rows of a CSV or Parquet table, each read as a JSON object of its columns), which
entity an item is, and where its id and creation time live. Items are stored whole
in the raw tables; dbt staging picks the fields. See docs/source_formats.md.
"""

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class SourceFormat:
    name: str
    description: str
    # File name endings this format accepts inside its landing folder.
    suffixes: tuple[str, ...]
    # "ndjson": every non-blank line is an item; "document": the file is one JSON document and `item_paths`
    # point at its record arrays; "table": a CSV (with a header) or Parquet file, every row an item.
    layout: Literal["ndjson", "document", "table"]
    # SQL expression over `item` (JSON) giving the entity, NULL when the item is not one we keep.
    entity_sql: str
    # entity -> (JSON path of the id, JSON path of the creation time), both required.
    required_paths: dict[str, tuple[str, str]]
    # Why an item whose entity is NULL is rejected (SQL expression over `item`).
    unsupported_reason_sql: str = "'unsupported record type'"
    # JSON paths of record arrays, for documents. A `[*]` path yields one item per element.
    item_paths: tuple[str, ...] = ()
    # SQL expression over `doc` (a document's JSON) giving why the whole file is refused, else NULL.
    document_error_sql: str = "NULL"
    # SQL expression over `created_raw` (the text at the creation time's path): a number when readable.
    created_sql: str = "try_cast(created_raw as double)"
    # Columns a table must have (its header or schema), else the file is refused whole.
    required_columns: tuple[str, ...] = ()

    @property
    def raw_table(self) -> str:
        return f"raw.{self.name}"

    @property
    def is_document(self) -> bool:
        return self.layout == "document"


REDDIT_DUMP = SourceFormat(
    name="reddit_dump",
    description="Reddit monthly dumps (Pushshift / Arctic Shift): NDJSON, plain or zstd (RS_*/RC_*).",
    suffixes=(".ndjson", ".jsonl", ".json", ".zst"),
    layout="ndjson",
    entity_sql="""case
        when json_exists(item, '$.link_id') then 'comment'
        when json_exists(item, '$.title') then 'submission'
    end""",
    unsupported_reason_sql="'neither a submission (no title) nor a comment (no link_id)'",
    required_paths={
        "submission": ("$.id", "$.created_utc"),
        "comment": ("$.id", "$.created_utc"),
    },
)

REDDIT_API = SourceFormat(
    name="reddit_api",
    description="Reddit API JSON: a Listing (t3/t1 children), the two listings of a comment tree,"
    " or an /api/morechildren answer.",
    suffixes=(".json",),
    layout="document",
    entity_sql="""case item->>'$.kind' when 't3' then 'submission' when 't1' then 'comment' end""",
    unsupported_reason_sql="""case item->>'$.kind'
        when 'more' then 'a "load more comments" stub (ids of comments not on this page; the collector'
            || ' fetches them with /api/morechildren)'
        else 'listing child of kind ' || coalesce(item->>'$.kind', 'NULL')
            || ' is neither a submission (t3) nor a comment (t1)'
    end""",
    required_paths={
        "submission": ("$.data.id", "$.data.created_utc"),
        "comment": ("$.data.id", "$.data.created_utc"),
    },
    # A subreddit listing is one object; /comments/<id> answers an array of two listings whose comments
    # nest their replies (a Listing in `replies`, at any depth); /api/morechildren answers a flat list.
    item_paths=(
        "$.data.children[*]",
        "$[*].data.children[*]",
        "$..replies.data.children[*]",
        "$.json.data.things[*]",
    ),
    document_error_sql="""case
        when json_type(doc) = 'ARRAY' and (doc->>'$[0].kind') = 'Listing' then NULL
        when json_exists(doc, '$.json') then case
            when json_array_length(doc, '$.json.errors') > 0
                then 'Reddit API errors: ' || (doc->>'$.json.errors')
            when not json_exists(doc, '$.json.data.things') then 'not a Reddit /api/morechildren answer'
        end
        when (doc->>'$.kind') is distinct from 'Listing' then 'not a Reddit Listing (kind is '
            || coalesce(doc->>'$.kind', 'missing') || ')'
    end""",
)

TIKTOK_RESEARCH = SourceFormat(
    name="tiktok_research",
    description="TikTok Research API responses: video query and comment list envelopes.",
    suffixes=(".json",),
    layout="document",
    entity_sql="""case when json_exists(item, '$.video_id') then 'comment' else 'video' end""",
    required_paths={
        "video": ("$.id", "$.create_time"),
        "comment": ("$.id", "$.create_time"),
    },
    item_paths=("$.data.videos[*]", "$.data.comments[*]"),
    document_error_sql="""case
        when coalesce(doc->>'$.error.code', 'ok') <> 'ok' then 'TikTok API error '
            || (doc->>'$.error.code') || ': ' || coalesce(doc->>'$.error.message', '')
        when not (json_exists(doc, '$.data.videos') or json_exists(doc, '$.data.comments'))
            then 'not a TikTok Research API response (no data.videos or data.comments)'
    end""",
)

ZEESCHUIMER = SourceFormat(
    name="zeeschuimer",
    description="Zeeschuimer NDJSON exports of TikTok posts (tiktok.com) and comments (tiktok-comments).",
    suffixes=(".ndjson", ".jsonl"),
    layout="ndjson",
    entity_sql="""case item->>'$.source_platform'
        when 'tiktok.com' then 'video' when 'tiktok-comments' then 'comment' end""",
    unsupported_reason_sql="""'source_platform ' || coalesce(item->>'$.source_platform', 'NULL')
        || ' is not tiktok.com or tiktok-comments'""",
    required_paths={
        "video": ("$.data.id", "$.data.createTime"),
        "comment": ("$.data.cid", "$.data.create_time"),
    },
)

# Posts and comments from any other collection, in one documented table (docs/data_in.md). Empty cells
# are null; the creation time is epoch seconds or an ISO 8601 time (UTC unless it carries an offset).
GENERIC_PLATFORMS = ("reddit", "tiktok")
_GENERIC_PLATFORM_SQL = f"lower(item->>'$.platform') in {GENERIC_PLATFORMS}"
_GENERIC_PLATFORM_NAMES = ", ".join(GENERIC_PLATFORMS)
GENERIC = SourceFormat(
    name="generic",
    description="Posts and comments of any other collection, one row each: CSV with a header, or Parquet"
    " (columns id, platform, kind, text, created_at; optional thread_id, parent_id, community, author,"
    " title, region_code, collected_at).",
    suffixes=(".csv", ".parquet"),
    layout="table",
    entity_sql=f"""case
        when not {_GENERIC_PLATFORM_SQL} then NULL
        when lower(item->>'$.kind') = 'post' then 'post'
        when lower(item->>'$.kind') = 'comment' and coalesce(item->>'$.thread_id', '') <> '' then 'comment'
    end""",
    unsupported_reason_sql=f"""case
        when not coalesce({_GENERIC_PLATFORM_SQL}, false)
            then 'platform ' || coalesce(item->>'$.platform', '(empty)') || ' is not one of {_GENERIC_PLATFORM_NAMES}'
        when lower(coalesce(item->>'$.kind', '')) not in ('post', 'comment')
            then 'kind ' || coalesce(item->>'$.kind', '(empty)') || ' is not post or comment'
        else 'comment without thread_id (the id of the post it belongs to)'
    end""",
    required_paths={"post": ("$.id", "$.created_at"), "comment": ("$.id", "$.created_at")},
    created_sql="coalesce(try_cast(created_raw as double), epoch(try_cast(created_raw as timestamptz)))",
    required_columns=("id", "platform", "kind", "text", "created_at"),
)

SOURCE_FORMATS: dict[str, SourceFormat] = {
    source.name: source for source in (REDDIT_DUMP, REDDIT_API, TIKTOK_RESEARCH, ZEESCHUIMER, GENERIC)
}
