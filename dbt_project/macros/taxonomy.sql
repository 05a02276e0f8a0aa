{#
  The label taxonomy as the labels asset wrote it (labels.label_classes, from assets/labels/taxonomy.yaml):
  the fact table's label columns, the aggregates' dimensions and the accepted label values all follow
  the taxonomy file, so a dimension added there reaches every mart without a SQL change.
  Read at execution; while dbt parses, there is no warehouse to read and the list is empty.
#}
{% macro label_dimensions() %}
    {%- set label_classes = source('labels', 'label_classes') -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set query -%}
        select dimension, any_value(applies_when_dimension), any_value(applies_when_label), bool_or(thread_scope)
        from {{ label_classes }}
        group by dimension
        order by min(dimension_position)
    {%- endset -%}
    {%- set dimensions = [] -%}
    {%- for row in run_query(query).rows -%}
        {%- do dimensions.append({
            'name': row[0], 'applies_when_dimension': row[1], 'applies_when_label': row[2], 'thread_scope': row[3]
        }) -%}
    {%- endfor -%}
    {{ return(dimensions) }}
{% endmacro %}

{# The posts a dimension is counted over: those labelled on it, gated as the taxonomy says (a thread-scope
   dimension also over the replies in a stigma-related thread). Over the fact table. #}
{% macro dimension_population(dimension, alias='') %}
    {%- set prefix = alias ~ '.' if alias else '' -%}
    {{ prefix }}{{ dimension.name }} is not null
    {%- if dimension.applies_when_dimension %}
    and ({{ prefix }}{{ dimension.applies_when_dimension }} = '{{ dimension.applies_when_label }}'
        {%- if dimension.thread_scope %} or {{ prefix }}stigma_scope = 'thread'{% endif %})
    {%- endif %}
{% endmacro %}

{# Why an item is in the study (the fact's stigma_scope): its own text is stigma-related (own_text), or it
   is a comment answering a stigma-related comment or sitting under a stigma-related post (thread); NULL
   when neither. Over the fact's `posts`, `labels`, `parent_labels` and `thread_labels`. #}
{% macro stigma_scope() -%}
    case
        when labels.relevance = 'relevant' then 'own_text'
        when posts.kind = 'comment' and (parent_labels.relevance = 'relevant' or thread_labels.relevance = 'relevant')
            then 'thread'
    end
{%- endmacro %}
