{#- One row here per row of `compare_model`, no more, no fewer. An incremental table whose key changed
    meaning (a new pseudonym scheme, say) keeps its old rows beside the new ones, and a unique test cannot
    see it: every key is still unique. The cure is `stigma-insights run --full-refresh`. -#}
{% test same_row_count_as(model, compare_model) %}
select rows_here, rows_there, 'rebuild it: stigma-insights run --full-refresh' as fix
from (select (select count(*) from {{ model }}) as rows_here, (select count(*) from {{ compare_model }}) as rows_there)
where rows_here <> rows_there
{% endtest %}
