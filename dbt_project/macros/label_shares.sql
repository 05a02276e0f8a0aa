{#
  Counts and shares of labels per group among stigma-related posts, in long form
  (one row per group, dimension and label), with a 95% Wilson interval for each share and a flag
  for groups too small for a meaningful share (var min_group_size). Shared by every aggregate mart.
#}
{% macro label_shares(group_columns, dimensions) %}
{#- group_columns: a list of column names, or a mapping of output name to SQL expression. -#}
{%- set groups = group_columns if group_columns is mapping else dict(zip(group_columns, group_columns)) -%}
{%- set z = 1.959964 -%}
with counted as (
    {%- for dimension in dimensions %}
    select
        {% for name, expression in groups.items() %}{{ expression }} as {{ name }}, {% endfor %}
        '{{ dimension }}' as dimension,
        {{ dimension }} as label,
        count(*) as n_posts
    from {{ ref('fct_labelled_posts') }}
    where is_stigma_related and {{ dimension }} is not null
    group by all
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

shared as (
    select
        *,
        sum(n_posts) over (partition by {% for name in groups %}{{ name }}, {% endfor %}dimension) as n_group,
        n_posts / n_group as share
    from counted
)

select
    *,
    greatest(0, ({{ wilson_centre('share', 'n_group', z) }}) - ({{ wilson_half_width('share', 'n_group', z) }})) as share_ci_low,
    least(1, ({{ wilson_centre('share', 'n_group', z) }}) + ({{ wilson_half_width('share', 'n_group', z) }})) as share_ci_high,
    n_group < {{ var('min_group_size') }} as is_small_group
from shared
{% endmacro %}

{% macro wilson_centre(p, n, z) -%}
    ({{ p }} + {{ z }}^2 / (2 * {{ n }})) / (1 + {{ z }}^2 / {{ n }})
{%- endmacro %}

{% macro wilson_half_width(p, n, z) -%}
    {{ z }} * sqrt({{ p }} * (1 - {{ p }}) / {{ n }} + {{ z }}^2 / (4 * {{ n }}^2)) / (1 + {{ z }}^2 / {{ n }})
{%- endmacro %}
