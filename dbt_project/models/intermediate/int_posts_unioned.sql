-- Every staged post and comment in one shape, before de-duplication. Reddit submissions' text is
-- title + body; TikTok videos' text is caption + transcript; generic rows come in this shape already.
{{ config(materialized='view') }}

with reddit_submissions as ({{ union_staging('submissions', ['reddit_dump', 'reddit_api']) }}),
reddit_comments as ({{ union_staging('comments', ['reddit_dump', 'reddit_api']) }}),
tiktok_videos as ({{ union_staging('videos', ['tiktok_research', 'zeeschuimer']) }}),
tiktok_comments as ({{ union_staging('comments', ['tiktok_research', 'zeeschuimer']) }})

select
    'reddit' as platform, 'post' as kind, submission_id as post_id, submission_id as thread_id,
    NULL as parent_id, subreddit as community, author_handle, created_at,
    case when selftext is null or selftext = '' then title else title || chr(10) || chr(10) || selftext end as text,
    status, NULL as region_code, source_format, source_file, observed_at, loaded_at
from reddit_submissions
union all
select
    'reddit', 'comment', comment_id, submission_id,
    case when parent_fullname like 't1\_%' escape '\' then substr(parent_fullname, 4) end,
    subreddit, author_handle, created_at, body, status, NULL, source_format, source_file, observed_at,
    loaded_at
from reddit_comments
union all
select
    'tiktok', 'post', video_id, video_id, NULL, array_to_string(hashtags, ','), author_handle,
    created_at, concat_ws(chr(10), description, voice_to_text), 'available', region_code,
    source_format, source_file, observed_at, loaded_at
from tiktok_videos
union all
select
    'tiktok', 'comment', comment_id, video_id, parent_comment_id, NULL, author_handle, created_at,
    text, 'available', NULL, source_format, source_file, observed_at, loaded_at
from tiktok_comments
union all
select
    platform, kind, post_id, thread_id, parent_id, community, author_handle, created_at, text, 'available',
    region_code, 'generic', source_file, observed_at, loaded_at
from {{ ref('stg_generic__items') }}
