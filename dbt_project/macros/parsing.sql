{# A JSON field as text, parenthesised: ->> binds more loosely than = and || in DuckDB. #}
{% macro json_field(root, field) -%}
    (record->>'{{ root }}{{ field }}')
{%- endmacro %}

{# Epoch seconds arrive as int, numeric string or float (docs/source_formats.md, section 1). #}
{% macro epoch_to_timestamp(expression) -%}
    to_timestamp(try_cast({{ expression }} as double))
{%- endmacro %}

{#
  A time in the generic format: epoch seconds, or ISO 8601 text, read as UTC unless it carries an offset
  (Z, +hh:mm, +hhmm or +hh), whatever the session's time zone.
#}
{% macro generic_time(expression) -%}
    coalesce(
        {{ epoch_to_timestamp(expression) }},
        case
            when regexp_matches({{ expression }}, '(Z|[+-]\d\d(:?\d\d)?)$') then try_cast({{ expression }} as timestamptz)
            else timezone('UTC', try_cast({{ expression }} as timestamp))
        end
    )
{%- endmacro %}

{# Reddit escapes &, < and > in some dumps and in API answers without raw_json=1. #}
{% macro unescape_html(expression) -%}
    replace(replace(replace({{ expression }}, '&lt;', '<'), '&gt;', '>'), '&amp;', '&')
{%- endmacro %}

{# Reddit marks deleted and removed content in the text and, for submissions, removed_by_category. #}
{% macro reddit_status(text_expression, removed_by_category='NULL') -%}
    case
        when {{ text_expression }} = '[deleted]' or {{ removed_by_category }} in ('deleted', 'author')
            then 'deleted'
        when {{ text_expression }} = '[removed]' or {{ removed_by_category }} is not null
            or {{ text_expression }} like '[ Removed by reddit%'
            then 'removed'
        else 'available'
    end
{%- endmacro %}

{% macro reddit_text(text_expression) -%}
    case when {{ text_expression }} in ('[deleted]', '[removed]') or {{ text_expression }} like '[ Removed by reddit%'
        then NULL else {{ unescape_html(text_expression) }} end
{%- endmacro %}

{# Columns shared by dump and API submissions; `root` is where the t3 object sits in `record`. #}
{% macro reddit_submission_columns(root) -%}
    {{ json_field(root, 'id') }} as submission_id,
    {{ json_field(root, 'subreddit') }} as subreddit,
    nullif({{ json_field(root, 'author') }}, '[deleted]') as author_handle,
    {{ unescape_html(json_field(root, 'title')) }} as title,
    {{ reddit_text(json_field(root, 'selftext')) }} as selftext,
    {{ reddit_status(json_field(root, 'selftext'), json_field(root, 'removed_by_category')) }} as status,
    {{ epoch_to_timestamp(json_field(root, 'created_utc')) }} as created_at,
    try_cast({{ json_field(root, 'score') }} as bigint) as score,
    try_cast({{ json_field(root, 'num_comments') }} as bigint) as num_comments,
    {{ json_field(root, 'link_flair_text') }} as link_flair_text,
    {{ json_field(root, 'permalink') }} as permalink
{%- endmacro %}

{% macro reddit_comment_columns(root) -%}
    {{ json_field(root, 'id') }} as comment_id,
    substr({{ json_field(root, 'link_id') }}, 4) as submission_id,
    {{ json_field(root, 'parent_id') }} as parent_fullname,
    {{ json_field(root, 'subreddit') }} as subreddit,
    nullif({{ json_field(root, 'author') }}, '[deleted]') as author_handle,
    {{ reddit_text(json_field(root, 'body')) }} as body,
    {{ reddit_status(json_field(root, 'body')) }} as status,
    {{ epoch_to_timestamp(json_field(root, 'created_utc')) }} as created_at,
    try_cast({{ json_field(root, 'score') }} as bigint) as score
{%- endmacro %}

{% macro provenance_columns() -%}
    source_file,
    source_position,
    content_sha256,
    loaded_at
{%- endmacro %}

{# When the platform last showed us this version of the item; the newest version wins in `posts`. #}
{% macro reddit_observed_at(root) -%}
    coalesce(
        {{ epoch_to_timestamp(json_field(root, '_meta.retrieved_2nd_on')) }},
        {{ epoch_to_timestamp(json_field(root, 'retrieved_on')) }},
        {{ epoch_to_timestamp(json_field(root, 'retrieved_utc')) }},
        loaded_at
    ) as observed_at
{%- endmacro %}

{# The staging views of one entity from several landing formats, with the format as a column. #}
{% macro union_staging(entity, source_formats) -%}
    {%- for source_format in source_formats %}
    select '{{ source_format }}' as source_format, * from {{ ref('stg_' ~ source_format ~ '__' ~ entity) }}
    {%- if not loop.last %}
    union all by name
    {%- endif %}
    {%- endfor %}
{%- endmacro %}

{#
  A TikTok video's hashtags as one normalised list: lowercase, without '#', empty ones dropped,
  distinct and sorted, so the Research API and Zeeschuimer give one topic the same `community`
  (they list tags in different orders; Zeeschuimer's come from JSON paths). NULL when there are none.
#}
{% macro hashtag_list(expression) -%}
    nullif(list_sort(list_distinct(list_filter(
        list_transform({{ expression }}, tag -> lower(trim(tag, '# '))),
        tag -> coalesce(tag, '') <> ''
    ))), []::varchar[])
{%- endmacro %}
