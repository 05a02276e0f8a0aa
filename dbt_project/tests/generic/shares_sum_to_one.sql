{# Within each group the shares (`column`) of one dimension's labels add up to 1 (`group_by` names the
   group; the model's `dimension` column, where it has one, splits it further). #}
{% test shares_sum_to_one(model, group_by, column='share', per_dimension=true) %}
select {{ group_by | join(', ') }}{{ ', dimension' if per_dimension }}, sum({{ column }}) as total_share
from {{ model }}
group by all
having abs(sum({{ column }}) - 1) > 1e-6
{% endtest %}
