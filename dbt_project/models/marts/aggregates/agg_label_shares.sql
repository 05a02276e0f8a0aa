-- Label counts and shares for every grouping and every taxonomy dimension, in long form: one row
-- per group, dimension and label (labels no post in the group has included, with 0), with a 95%
-- Wilson interval per share. Each dimension is counted over its population: relevance over every
-- labelled post, the dimensions the taxonomy gates on relevance over stigma-related posts (intent, a
-- thread-scope dimension, also over the comments answering them).
{%- set groupings = {
    'platform': ['platform'],
    'platform_kind': ['platform', 'kind'],
    'region': ['region'],
    'self_disclosed_gender': ['self_disclosed_gender'],
    'self_disclosed_age_band': ['self_disclosed_age_band'],
    'language': ['language'],
} %}
{%- set group_columns = ['platform', 'kind', 'region', 'self_disclosed_gender', 'self_disclosed_age_band', 'language'] %}

with posts as (
    select * replace (
        coalesce(self_disclosed_gender, 'not disclosed') as self_disclosed_gender,
        coalesce(self_disclosed_age_band, 'not disclosed') as self_disclosed_age_band
    )
    from {{ ref('fct_labelled_posts') }}
),

-- One row per post and dimension the post is counted on.
labelled as (
    {%- for dimension in label_dimensions() %}
    select
        {{ group_columns | join(', ') }},
        '{{ dimension.name }}' as dimension,
        {{ dimension.name }} as label,
        {{ dimension.name }}_is_uncertain as is_uncertain
    from posts
    where {{ dimension_population(dimension) }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

counted as (
    {%- for grouping, columns in groupings.items() %}
    select
        '{{ grouping }}' as grouping,
        {{ columns | join(" || ' / ' || ") }} as group_value,
        {%- for column in group_columns %}
        {{ column if column in columns else 'null::varchar' }} as {{ column }},
        {%- endfor %}
        dimension,
        label,
        count(*) as n_posts,
        count(*) filter (where is_uncertain) as n_uncertain
    from labelled
    group by all
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

groups as (
    select
        grouping, group_value, {{ group_columns | join(', ') }}, dimension,
        -- from every label counted, so a label outside the taxonomy makes the shares miss 1 (tested)
        sum(n_posts)::bigint as n_group
    from counted
    group by all
),

complete as (
    select
        groups.*,
        classes.label,
        classes.label_position,
        coalesce(counted.n_posts, 0) as n_posts,
        coalesce(counted.n_uncertain, 0) as n_uncertain
    from groups
    join {{ source('labels', 'label_classes') }} as classes using (dimension)
    left join counted
        on counted.grouping = groups.grouping
        and counted.group_value = groups.group_value
        and counted.dimension = groups.dimension
        and counted.label = classes.label
)

select
    grouping,
    group_value,
    {{ group_columns | join(', ') }},
    dimension,
    label,
    n_posts,
    n_uncertain,
    n_group,
    {{ share_with_interval('n_posts', 'n_group') }},
    n_group < {{ var('min_group_size') }} as is_small_group
from complete
order by grouping, group_value, dimension, label_position
