-- How replies receive stigma-related posts and comments: per platform, the stigma domain and intent of
-- what they answer, and empathy mechanism (EPITOME), the share of replies showing it (weak or strong)
-- and the share of answered items that got at least one such reply. Replies whose parent is not in the
-- warehouse are left out: what they answer is unknown (the fact still labels them, context reply_only).
-- Rows with parent_stigma_domain 'all' pool the domains (a pooled count cannot be summed from the published
-- copy, where small counts are withheld).
with replies as (
    select
        reply.platform,
        parent.post_key as parent_key,
        parent.stigma_domain as parent_stigma_domain,
        parent.intent as parent_intent,
        {%- for mechanism in var('empathy_mechanisms') %}
        reply.empathy_{{ mechanism }} in ('weak', 'strong') as {{ mechanism }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ ref('fct_labelled_posts') }} as reply
    join {{ ref('fct_labelled_posts') }} as parent
        on parent.post_key = coalesce(reply.parent_comment_key, reply.thread_key)
    where reply.kind = 'comment' and reply.empathy_context = 'pair' and parent.is_stigma_related
),

by_mechanism as (
    {%- for mechanism in var('empathy_mechanisms') %}
    select platform, parent_key, parent_stigma_domain, parent_intent,
        '{{ mechanism }}' as mechanism, {{ mechanism }} as is_empathic
    from replies
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

counted as (
    select
        platform,
        if(grouping(parent_stigma_domain) = 1, 'all', parent_stigma_domain) as parent_stigma_domain,
        parent_intent,
        mechanism,
        count(*) as n_replies,
        count(*) filter (where is_empathic) as n_empathic_replies,
        count(distinct parent_key) as n_answered,
        count(distinct parent_key) filter (where is_empathic) as n_answered_with_empathic_reply
    from by_mechanism
    group by grouping sets (
        (platform, parent_stigma_domain, parent_intent, mechanism), (platform, parent_intent, mechanism)
    )
)

select
    platform,
    parent_stigma_domain,
    parent_intent,
    mechanism,
    n_replies,
    n_empathic_replies,
    {{ share_with_interval('n_empathic_replies', 'n_replies', 'empathic_share') }},
    n_answered,
    n_answered_with_empathic_reply,
    {{ share_with_interval('n_answered_with_empathic_reply', 'n_answered', 'answered_with_empathic_reply_share') }},
    n_replies < {{ var('min_group_size') }} as is_small_group
from counted
