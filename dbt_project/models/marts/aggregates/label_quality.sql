-- How good the labels are, per dimension and label: precision, recall and F1 of the engines on the
-- annotated posts they are measured by (held-out, cross-fitted: labels.label_error_rates), with the
-- dimension's macro-F1 and accuracy. The report's methods box quotes these; README has the
-- cross-validated figures on the gold set.
with confusion as (
    select dimension, measured_on, true_label, predicted_label, n_items, model_name, taxonomy_version
    from {{ source('labels', 'label_error_rates') }}
),

per_label as (
    select
        dimension,
        label,
        any_value(measured_on) as measured_on,
        sum(n_items) filter (where true_label = label) as n_true,
        sum(n_items) filter (where predicted_label = label) as n_predicted,
        sum(n_items) filter (where true_label = label and predicted_label = label) as n_correct,
        any_value(model_name) as model_name,
        any_value(taxonomy_version) as taxonomy_version
    from confusion
    cross join (select distinct dimension as label_dimension, true_label as label from confusion)
    where label_dimension = dimension
    group by dimension, label
),

scored as (
    select
        *,
        if(n_predicted > 0, n_correct / n_predicted, null) as label_precision,
        if(n_true > 0, n_correct / n_true, null) as label_recall
    from per_label
)

select
    dimension,
    label,
    measured_on,
    n_true::bigint as n_true,
    n_predicted::bigint as n_predicted,
    label_precision,
    label_recall,
    coalesce(2 * label_precision * label_recall / nullif(label_precision + label_recall, 0), 0) as label_f1,
    -- macro-F1 over the labels annotated at least once, as the evaluation computes it
    avg(coalesce(2 * label_precision * label_recall / nullif(label_precision + label_recall, 0), 0))
        filter (where n_true > 0) over (partition by dimension) as macro_f1,
    sum(n_correct) over (partition by dimension) / sum(n_true) over (partition by dimension) as accuracy,
    sum(n_true) over (partition by dimension)::bigint as n_annotated,
    model_name,
    taxonomy_version
from scored
