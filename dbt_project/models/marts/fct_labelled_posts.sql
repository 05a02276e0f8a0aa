-- Every post and comment with its labels: the analyst's fact table and the aggregates' only input.
-- One label, confidence and uncertain flag per taxonomy dimension (macros/taxonomy.sql).
-- Incremental: a run rewrites the rows whose post was rebuilt or whose labels changed since the
-- last run; `dbt build --full-refresh` rebuilds it whole.
-- Keys are keyed pseudonyms of the warehouse's post keys: no real platform id reaches analysts (an id
-- opens the post and its author); engineers keep the real ids in raw, staging and intermediate.
{{ config(materialized='incremental', unique_key='post_key', incremental_strategy='delete+insert',
          on_schema_change='sync_all_columns') }}

select
    pseudonymise_post_key(posts.post_key) as post_key,
    posts.platform,
    posts.kind,
    pseudonymise_post_key(posts.thread_key) as thread_key,
    pseudonymise_post_key(posts.parent_comment_key) as parent_comment_key,
    posts.community,
    posts.author_id,
    posts.created_at,
    posts.text,
    posts.status,
    posts.self_disclosed_gender,
    posts.self_disclosed_age,
    posts.self_disclosed_age_band,
    posts.country_code,
    posts.country,
    posts.region,
    labels.language,
    labels.language_confidence,
    {%- for dimension in label_dimensions() %}
    {%- if dimension.thread_scope %}
    -- kept by the label store for every text: here only where the item is in the study (stigma_scope)
    {%- for column in [dimension.name, dimension.name ~ '_confidence', dimension.name ~ '_is_uncertain'] %}
    case when {{ stigma_scope() }} is not null then labels.{{ column }} end as {{ column }},
    {%- endfor %}
    {%- else %}
    labels.{{ dimension.name }},
    labels.{{ dimension.name }}_confidence,
    labels.{{ dimension.name }}_is_uncertain,
    {%- endif %}
    {%- endfor %}
    coalesce(labels.relevance = 'relevant', false) as is_stigma_related,
    -- A reply belongs to the study through its thread: in scope by its own words, or by answering a
    -- stigma-related post or comment (or sitting under a stigma-related post).
    {{ stigma_scope() }} as stigma_scope,
    empathy.context as empathy_context,
    {%- for mechanism in var('empathy_mechanisms') %}
    empathy.empathy_{{ mechanism }},
    empathy.empathy_{{ mechanism }}_confidence,
    empathy.empathy_{{ mechanism }}_is_uncertain,
    {%- endfor %}
    themes.theme_id,
    themes.assigned_at as theme_assigned_at,
    {{ labelling_model_name('labels') }} as model_name,
    labels.taxonomy_version,
    labels.labelled_at,
    posts.refreshed_at as post_refreshed_at,
    -- this dbt run's start: the rows the fact's check has not validated yet are those written after its last pass
    '{{ run_started_at }}'::timestamptz as fact_written_at
from {{ ref('int_posts_deduplicated') }} as posts
left join {{ source('labels', 'post_labels') }} as labels
    on posts.post_key = labels.post_key
left join {{ source('labels', 'post_themes') }} as themes
    on posts.post_key = themes.post_key
left join {{ source('labels', 'reply_empathy') }} as empathy
    on posts.post_key = empathy.post_key
left join {{ source('labels', 'post_labels') }} as parent_labels
    on parent_labels.post_key = coalesce(posts.parent_comment_key, posts.thread_key)
left join {{ source('labels', 'post_labels') }} as thread_labels
    on thread_labels.post_key = posts.thread_key
{% if is_incremental() %}
where posts.refreshed_at > (select coalesce(max(post_refreshed_at), '-infinity'::timestamptz) from {{ this }})
    or labels.labelled_at > (select coalesce(max(labelled_at), '-infinity'::timestamptz) from {{ this }})
    -- a reply whose empathy or whose parent's or thread's labels were written since the last run
    or greatest(empathy.labelled_at, parent_labels.labelled_at, thread_labels.labelled_at)
        > (select coalesce(max(fact_written_at), '-infinity'::timestamptz) from {{ this }})
    or themes.assigned_at > (select coalesce(max(theme_assigned_at), '-infinity'::timestamptz) from {{ this }})
    -- labels withdrawn without a new post version (e.g. a relabelling that has not reached this post yet)
    or (labels.post_key is null
        and pseudonymise_post_key(posts.post_key) in (select post_key from {{ this }} where relevance is not null))
{% endif %}
