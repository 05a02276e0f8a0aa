{#
  The one place shares are computed: agg_label_shares (every grouping and dimension, long form)
  counts labels and computes each share with its 95% Wilson interval; the per-topic aggregates are
  slices of it (label_shares_slice), and the adjusted shares are computed from its counts.
#}
{% macro wilson_bound(share, n, side, z=1.959964) -%}
    {%- set centre = "(" ~ share ~ " + " ~ z ~ "^2 / (2 * " ~ n ~ ")) / (1 + " ~ z ~ "^2 / " ~ n ~ ")" -%}
    {%- set half_width = z ~ " * sqrt(" ~ share ~ " * (1 - " ~ share ~ ") / " ~ n ~ " + " ~ z ~ "^2 / (4 * "
        ~ n ~ "^2)) / (1 + " ~ z ~ "^2 / " ~ n ~ ")" -%}
    {%- if side == 'low' -%} greatest(0, {{ centre }} - {{ half_width }})
    {%- else -%} least(1, {{ centre }} + {{ half_width }})
    {%- endif -%}
{%- endmacro %}

{# `count` / `total` as the column `name`, with its 95% Wilson interval as `name`_ci_low and `name`_ci_high. #}
{% macro share_with_interval(count, total, name='share') -%}
    {%- set share = count ~ ' / ' ~ total -%}
    {{ share }} as {{ name }},
    {{ wilson_bound(share, total, 'low') }} as {{ name }}_ci_low,
    {{ wilson_bound(share, total, 'high') }} as {{ name }}_ci_high
{%- endmacro %}

{# One grouping of agg_label_shares, with its own group columns, for the dimensions `dimension_filter` keeps. #}
{% macro label_shares_slice(grouping, group_columns, dimension_filter) %}
select
    {{ group_columns | join(', ') }},
    dimension,
    label,
    n_posts,
    n_group,
    share,
    share_ci_low,
    share_ci_high,
    is_small_group
from {{ ref('agg_label_shares') }}
where grouping = '{{ grouping }}' and {{ dimension_filter }}
{% endmacro %}
