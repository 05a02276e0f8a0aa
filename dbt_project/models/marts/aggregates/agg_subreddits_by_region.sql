-- How many subreddits (and posts) each region of origin contributes.
select
    region,
    count(distinct community) as n_subreddits,
    count(*) as n_posts,
    count(*) filter (where is_stigma_related) as n_stigma_related_posts
from {{ ref('fct_labelled_posts') }}
where platform = 'reddit'
group by region
