{#
  What labelled a post, for people: labels.post_labels keeps the embedding model, the engines' training set id
  and the language detector as columns (a change of any relabels the post); the marts show them joined, as
  LabelIds.model_name does in assets/labels/routes.py.
#}
{% macro labelling_model_name(alias) -%}
    {{ alias }}.embedding_model || '|engine:' || {{ alias }}.engine_id || '|language:' || {{ alias }}.language_detector
{%- endmacro %}
