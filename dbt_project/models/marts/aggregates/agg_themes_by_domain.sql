-- Themes per stigma domain: each theme's share of the domain's stigma-related posts, over all posts and
-- per platform and per region, with 95% Wilson intervals and the theme's keywords. Posts in no theme
-- are theme -1 (counted, never hidden); a theme absent from a group is a row with 0. No post text.
with posts as (
    select stigma_domain, platform, region, theme_id
    from {{ ref('fct_labelled_posts') }}
    where is_stigma_related and stigma_domain is not null and theme_id is not null
),

counted as (
    select 'all' as grouping, 'all' as group_value, stigma_domain, theme_id, count(*) as n_posts
    from posts group by all
    union all
    select 'platform', platform, stigma_domain, theme_id, count(*) from posts group by all
    union all
    select 'region', region, stigma_domain, theme_id, count(*) from posts group by all
),

groups as (
    select grouping, group_value, stigma_domain, sum(n_posts)::bigint as n_group
    from counted group by all
),

complete as (
    select groups.*, domain_themes.theme_id, coalesce(counted.n_posts, 0)::bigint as n_posts
    from groups
    join (select distinct stigma_domain, theme_id from posts) as domain_themes using (stigma_domain)
    left join counted using (grouping, group_value, stigma_domain, theme_id)
)

select
    complete.grouping,
    complete.group_value,
    complete.stigma_domain,
    complete.theme_id,
    coalesce(array_to_string(themes.keywords, ', '), '(no theme)') as keywords,
    themes.name as theme_name,
    complete.n_posts,
    complete.n_group,
    complete.n_posts / complete.n_group as share,
    {{ wilson_bound('complete.n_posts / complete.n_group', 'complete.n_group', 'low') }} as share_ci_low,
    {{ wilson_bound('complete.n_posts / complete.n_group', 'complete.n_group', 'high') }} as share_ci_high,
    complete.n_group < {{ var('min_group_size') }} as is_small_group
from complete
left join {{ source('labels', 'themes') }} as themes using (theme_id)
order by grouping, group_value, stigma_domain, n_posts desc, theme_id
