select
    record->>'$.data.id' as video_id,
    -- `author` is an object in XHR captures and the bare handle in embedded-JSON captures.
    case json_type(record, '$.data.author')
        when 'OBJECT' then record->>'$.data.author.uniqueId'
        else record->>'$.data.author'
    end as author_handle,
    record->>'$.data.desc' as description,
    upper(record->>'$.data.locationCreated') as region_code,
    -- ->> on a wildcard path gives the values as text (-> kept their JSON quotes: "therapy")
    {{ hashtag_list("(record->>'$.data.textExtra[*].hashtagName') || (record->>'$.data.challenges[*].title')") }}
        as hashtags,
    {{ epoch_to_timestamp("record->>'$.data.createTime'") }} as created_at,
    try_cast(record->>'$.data.stats.diggCount' as bigint) as like_count,
    try_cast(record->>'$.data.stats.playCount' as bigint) as view_count,
    -- Zeeschuimer stamps collection time in epoch milliseconds.
    to_timestamp(try_cast(record->>'$.timestamp_collected' as double) / 1000) as observed_at,
    record->>'$.source_platform_url' as collected_from_url,
    {{ provenance_columns() }}
from {{ source('raw', 'zeeschuimer') }}
where entity = 'video'
