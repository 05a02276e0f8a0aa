select
    record->>'$.id' as comment_id,
    record->>'$.video_id' as video_id,
    -- Top-level comments carry the video id as parent (docs/source_formats.md, section 3): no parent comment then.
    nullif(record->>'$.parent_comment_id', record->>'$.video_id') as parent_comment_id,
    -- The Research API gives no comment author.
    cast(NULL as varchar) as author_handle,
    record->>'$.text' as text,
    {{ epoch_to_timestamp("record->>'$.create_time'") }} as created_at,
    try_cast(record->>'$.like_count' as bigint) as like_count,
    loaded_at as observed_at,
    {{ provenance_columns() }}
from {{ source('raw', 'tiktok_research') }}
where entity = 'comment'
