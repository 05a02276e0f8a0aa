-- The unified, de-duplicated posts and comments: one row per platform item, newest version kept,
-- authors pseudonymised, text scrubbed, region of origin and self-disclosed gender/age attached.
--
-- Incremental: a run rebuilds only the items with a version loaded since the last run, and the
-- comments of threads whose post is among them (comments take the post's community and region).
-- The comments of those threads and the threads of the rebuilt comments are read from this table,
-- not from every staged post.
-- `dbt build --full-refresh` (stigma-insights run --full-refresh) rebuilds the whole table.
{{ config(materialized='incremental', unique_key='post_key', incremental_strategy='delete+insert',
          on_schema_change='sync_all_columns') }}

with
{% if is_incremental() %}
new_versions as (
    select platform, kind, post_id
    from {{ ref('int_posts_unioned') }}
    where loaded_at > (select coalesce(max(loaded_at), '-infinity'::timestamptz) from {{ this }})
),

changed_items as (
    select platform, kind, post_id from new_versions
    union
    select comments.platform, comments.kind, comments.post_id
    from {{ this }} as comments
    semi join new_versions as new_posts
        on new_posts.kind = 'post'
        and comments.thread_key = new_posts.platform || ':post:' || new_posts.post_id
    where comments.kind = 'comment'
),
{% endif %}

latest as (
    select *
    from {{ ref('int_posts_unioned') }}
    {% if is_incremental() %}
    where (platform, kind, post_id) in (select (platform, kind, post_id) from changed_items)
    {% endif %}
    qualify row_number() over (
        partition by platform, kind, post_id
        order by observed_at desc, loaded_at desc, source_file desc
    ) = 1
),

-- Comments take community and region from their thread's post (TikTok comments carry neither).
threads as (
    {% if is_incremental() %}
    -- the posts rebuilt now, else the posts as this table has them
    select platform, post_id as thread_id, community, region_code from latest where kind = 'post'
    union all
    select platform, post_id, community, region_code
    from {{ this }} as kept
    where kind = 'post'
        and (platform, post_id) not in (select (platform, post_id) from latest where kind = 'post')
    {% else %}
    select platform, post_id as thread_id, community, region_code
    from {{ ref('int_posts_unioned') }}
    where kind = 'post'
    qualify row_number() over (
        partition by platform, post_id order by observed_at desc, loaded_at desc, source_file desc
    ) = 1
    {% endif %}
)

select
    latest.platform || ':' || latest.kind || ':' || latest.post_id as post_key,
    latest.platform,
    latest.kind,
    latest.post_id,
    latest.platform || ':post:' || latest.thread_id as thread_key,
    case when latest.parent_id is not null
        then latest.platform || ':comment:' || latest.parent_id end as parent_comment_key,
    coalesce(latest.community, threads.community) as community,
    pseudonymise(latest.author_handle) as author_id,
    latest.created_at,
    scrub_text(latest.text) as text,
    latest.status,
    -- on the text as written (before scrubbing): only what the writer states about themself
    self_disclosed_gender(latest.text) as self_disclosed_gender,
    self_disclosed_age(latest.text) as self_disclosed_age,
    age_band(self_disclosed_age(latest.text)) as self_disclosed_age_band,
    coalesce(subreddit_country.country_code, tiktok_country.country_code) as country_code,
    countries.country,
    case
        when latest.platform = 'reddit' and subreddit_country.subreddit is null then 'Unmapped'
        when latest.platform = 'reddit' and subreddit_country.country_code is null then 'Global'
        when latest.platform = 'tiktok' and coalesce(latest.region_code, threads.region_code) is null
            then 'Unknown'
        else coalesce(countries.region, 'Unmapped')
    end as region,
    latest.region_code,
    latest.source_format,
    latest.observed_at,
    latest.loaded_at,
    current_timestamp as refreshed_at
from latest
left join threads
    on latest.platform = threads.platform and latest.thread_id = threads.thread_id
left join {{ ref('subreddit_countries') }} as subreddit_country
    on latest.platform = 'reddit'
    and lower(coalesce(latest.community, threads.community)) = lower(subreddit_country.subreddit)
left join {{ ref('countries') }} as tiktok_country
    on latest.platform = 'tiktok'
    and coalesce(latest.region_code, threads.region_code) = tiktok_country.country_code
left join {{ ref('countries') }} as countries
    on countries.country_code = coalesce(subreddit_country.country_code, tiktok_country.country_code)
