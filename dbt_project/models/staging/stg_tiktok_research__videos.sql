select
    record->>'$.id' as video_id,
    record->>'$.username' as author_handle,
    record->>'$.video_description' as description,
    nullif(record->>'$.voice_to_text', '') as voice_to_text,
    upper(record->>'$.region_code') as region_code,
    {{ hashtag_list("record->>'$.hashtag_names[*]'") }} as hashtags,
    {{ epoch_to_timestamp("record->>'$.create_time'") }} as created_at,
    try_cast(record->>'$.like_count' as bigint) as like_count,
    try_cast(record->>'$.view_count' as bigint) as view_count,
    loaded_at as observed_at,
    {{ provenance_columns() }}
from {{ source('raw', 'tiktok_research') }}
where entity = 'video'
