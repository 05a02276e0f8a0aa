-- Who states their gender, per platform (the study found Reddit's writers mostly male, TikTok's mostly
-- female): the share of each stated gender among the items whose writers state one.
with items as (
    select platform, self_disclosed_gender
    from {{ ref('fct_labelled_posts') }}
),

counted as (
    select
        platform,
        self_disclosed_gender,
        count(*) as n_posts,
        sum(count(*)) over (partition by platform)::bigint as n_disclosed
    from items
    where self_disclosed_gender is not null
    group by platform, self_disclosed_gender
),

platforms as (
    select platform, count(*) as n_items from items group by all
)

select
    platform,
    self_disclosed_gender,
    n_posts,
    n_disclosed,
    n_items,
    {{ share_with_interval('n_posts', 'n_disclosed') }},
    n_disclosed < {{ var('min_group_size') }} as is_small_group
from counted
join platforms using (platform)
