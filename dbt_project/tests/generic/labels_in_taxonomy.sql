{# Every (dimension, label) of the model is a class of the taxonomy the labels asset wrote. #}
{% test labels_in_taxonomy(model, dimension_column='dimension', label_column='label') %}
select tested.{{ dimension_column }}, tested.{{ label_column }}, count(*) as n_rows
from {{ model }} as tested
anti join {{ source('labels', 'label_classes') }} as classes
    on classes.dimension = tested.{{ dimension_column }} and classes.label = tested.{{ label_column }}
group by all
{% endtest %}
