-- Posts and comments landed in the generic table format (docs/data_in.md): already one row per item,
-- in the unioned shape's terms. A Reddit title is joined to the text as for the other Reddit sources.
select
    lower(record->>'$.platform') as platform,
    entity as kind,
    record_id as post_id,
    case when entity = 'post' then record_id else record->>'$.thread_id' end as thread_id,
    case when entity = 'comment' then nullif(record->>'$.parent_id', record->>'$.thread_id') end as parent_id,
    record->>'$.community' as community,
    record->>'$.author' as author_handle,
    {{ generic_time("record->>'$.created_at'") }} as created_at,
    case
        when coalesce(record->>'$.title', '') = '' then record->>'$.text'
        when coalesce(record->>'$.text', '') = '' then record->>'$.title'
        else (record->>'$.title') || chr(10) || chr(10) || (record->>'$.text')
    end as text,
    upper(record->>'$.region_code') as region_code,
    coalesce({{ generic_time("record->>'$.collected_at'") }}, loaded_at) as observed_at,
    {{ provenance_columns() }}
from {{ source('raw', 'generic') }}
