{# Within each group the shares (`column`) of one dimension's labels add up to 1. #}
{% test shares_sum_to_one(model, group_by, column='share') %}
select {{ group_by | join(', ') }}, dimension, sum({{ column }}) as total_share
from {{ model }}
group by all
having abs(sum({{ column }}) - 1) > 1e-6
{% endtest %}
