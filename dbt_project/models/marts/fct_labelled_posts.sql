-- Every post and comment with its labels: the analyst's fact table and the aggregates' only input.
select
    posts.post_key,
    posts.platform,
    posts.kind,
    posts.post_id,
    posts.thread_key,
    posts.parent_comment_key,
    posts.community,
    posts.author_id,
    posts.created_at,
    posts.text,
    posts.status,
    posts.self_disclosed_gender,
    posts.self_disclosed_age,
    posts.country_code,
    posts.country,
    posts.region,
    labels.relevance,
    labels.relevance_confidence,
    labels.relevance_is_uncertain,
    coalesce(labels.relevance = 'relevant', false) as is_stigma_related,
    labels.stigma_domain,
    labels.stigma_domain_confidence,
    labels.stigma_domain_is_uncertain,
    labels.intent,
    labels.intent_confidence,
    labels.intent_is_uncertain,
    labels.model_name,
    labels.taxonomy_version,
    labels.labelled_at
from {{ ref('posts') }} as posts
left join {{ source('labels', 'post_labels') }} as labels
    on posts.post_key = labels.post_key
