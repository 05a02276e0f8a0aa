"""Label shares per group next to shares adjusted for the labelling engine's known error rates.

Adjusted classify-and-count: the observed label shares q of a group satisfy q = M^T p, with M the
cross-validated confusion rates (labels.label_error_rates), and p is solved for on the simplex
(assets/labels/prevalence.py). A Python model because that needs a small least-squares solve.
"""

import pandas as pd

from assets.labels.prevalence import adjusted_shares

GROUPINGS = {
    "platform": ["platform"],
    "platform_kind": ["platform", "kind"],
    "region": ["region"],
    "self_disclosed_gender": ["self_disclosed_gender"],
}
DIMENSIONS = ["stigma_domain", "intent"]


def model(dbt, session):
    dbt.config(materialized="table")
    min_group_size = int(dbt.config.get("min_group_size"))
    fact = dbt.ref("fct_labelled_posts").df()
    rates = dbt.source("labels", "label_error_rates").df()
    fact = fact[fact["is_stigma_related"]].assign(
        self_disclosed_gender=lambda f: f["self_disclosed_gender"].fillna("not disclosed")
    )
    rows = []
    for dimension in DIMENSIONS:
        matrix = rates[rates["dimension"] == dimension].pivot(
            index="true_label", columns="predicted_label", values="rate"
        )
        classes = list(matrix.index)
        matrix = matrix.loc[classes, classes].to_numpy()
        labelled = fact[fact[dimension].notna()]
        for grouping, columns in GROUPINGS.items():
            for key, group in labelled.groupby(columns):
                counts = group[dimension].value_counts().reindex(classes, fill_value=0)
                shares = counts / counts.sum()
                adjusted = adjusted_shares(shares.to_numpy(), matrix)
                group_value = " / ".join(str(k) for k in (key if isinstance(key, tuple) else (key,)))
                for label, n_posts, share, adjusted_share in zip(classes, counts, shares, adjusted):
                    rows.append({
                        "grouping": grouping,
                        "group_value": group_value,
                        "dimension": dimension,
                        "label": label,
                        "n_posts": int(n_posts),
                        "n_group": int(counts.sum()),
                        "share": float(share),
                        "adjusted_share": float(adjusted_share),
                        "is_small_group": bool(counts.sum() < min_group_size),
                    })
    return pd.DataFrame(rows)
