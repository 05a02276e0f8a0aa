{# Within each group the shares of one dimension's labels add up to 1. #}
{% test shares_sum_to_one(model, group_by) %}
select {{ group_by | join(', ') }}, dimension, sum(share) as total_share
from {{ model }}
group by all
having abs(sum(share) - 1) > 1e-9
{% endtest %}
