select
    record->>'$.data.cid' as comment_id,
    record->>'$.data.aweme_id' as video_id,
    nullif(record->>'$.data.reply_id', '0') as parent_comment_id,
    record->>'$.data.user.unique_id' as author_handle,
    record->>'$.data.text' as text,
    record->>'$.data.comment_language' as language,
    {{ epoch_to_timestamp("record->>'$.data.create_time'") }} as created_at,
    try_cast(record->>'$.data.digg_count' as bigint) as like_count,
    to_timestamp(try_cast(record->>'$.timestamp_collected' as double) / 1000) as observed_at,
    {{ provenance_columns() }}
from {{ source('raw', 'zeeschuimer') }}
where entity = 'comment'
