"""Label shares per group, adjusted for the engine's measured errors, with the figure to quote.

For every group (platform, platform x kind, region, self-disclosed gender) and dimension: the
classify-and-count share with its Wilson interval, and the adjusted share, which inverts the error
rates cross-fitted on the annotations (labels.label_error_rates) by least squares on the simplex,
with a bootstrap interval that resamples both the group and the annotations behind the rates
(assets/labels/prevalence.py). Posts whose label the engine flagged uncertain are counted in
n_uncertain. A Python model because that needs small least-squares solves.

Which figure to quote: the adjusted share where the rates rest on at least
var min_random_annotations_per_class randomly drawn warehouse posts of every class (posts like the
ones being counted); otherwise the raw share, with a note saying why.
"""

import zlib

import numpy as np
import pandas as pd

from stigma_insights.assets.labels.prevalence import adjusted_share_interval, adjusted_shares, wilson_interval

GROUPINGS = {
    "platform": ["platform"],
    "platform_kind": ["platform", "kind"],
    "region": ["region"],
    "self_disclosed_gender": ["self_disclosed_gender"],
}
# Relevance is counted over every labelled post; the others over stigma-related posts only.
DIMENSIONS = {"relevance": None, "stigma_domain": "is_stigma_related", "intent": "is_stigma_related"}


def quote_rule(dimension: str, rates: pd.DataFrame, random_counts: dict, minimum: int) -> tuple[bool, str]:
    short = [label for label in rates["true_label"].unique() if random_counts.get((dimension, label), 0) < minimum]
    if (rates["measured_on"] != "annotations").any():
        return False, "raw: no annotated posts measure the error rates yet (they come from the taxonomy's examples)"
    if short:
        return False, (f"raw: fewer than {minimum} randomly drawn annotated posts for {', '.join(sorted(short))};"
                       " the adjusted share is shown but not established")
    return True, f"adjusted: error rates measured on at least {minimum} random annotated posts per class"


def model(dbt, session):
    dbt.config(materialized="table")
    min_group_size = int(dbt.config.get("min_group_size"))
    min_random = int(dbt.config.get("min_random_annotations_per_class"))
    fact = dbt.ref("fct_labelled_posts").df()
    rates = dbt.source("labels", "label_error_rates").df()
    annotations = dbt.source("labels", "annotations").df()
    random_counts = annotations[annotations["sampling"] == "random"] \
        .groupby(["dimension", "label"])["post_key"].nunique().to_dict()
    fact = fact.assign(self_disclosed_gender=lambda f: f["self_disclosed_gender"].fillna("not disclosed"))
    rows = []
    for dimension, population in DIMENSIONS.items():
        dimension_rates = rates[rates["dimension"] == dimension]
        evidence = dimension_rates.pivot(index="true_label", columns="predicted_label", values="n_items")
        classes = list(evidence.index)
        evidence = evidence.loc[classes, classes].to_numpy()
        supported, note = quote_rule(dimension, dimension_rates, random_counts, min_random)
        labelled = fact[fact[dimension].notna() & (fact[population] if population else True)]
        for grouping, columns in GROUPINGS.items():
            for key, group in labelled.groupby(columns):
                counts = group[dimension].value_counts().reindex(classes, fill_value=0).to_numpy()
                uncertain = group[group[f"{dimension}_is_uncertain"]][dimension] \
                    .value_counts().reindex(classes, fill_value=0).to_numpy()
                n_group = int(counts.sum())
                group_value = " / ".join(str(k) for k in (key if isinstance(key, tuple) else (key,)))
                shares = counts / n_group
                low, high = wilson_interval(counts, n_group)
                adjusted = adjusted_shares(shares, evidence / np.maximum(evidence.sum(axis=1, keepdims=True), 1))
                seed = zlib.crc32(f"{grouping}|{group_value}|{dimension}".encode())
                adjusted_low, adjusted_high = adjusted_share_interval(counts, evidence, seed=seed)
                for i, label in enumerate(classes):
                    quoted = (adjusted[i], adjusted_low[i], adjusted_high[i]) if supported else (shares[i], low[i], high[i])
                    rows.append({
                        "grouping": grouping, "group_value": group_value, "dimension": dimension, "label": label,
                        "n_posts": int(counts[i]), "n_uncertain": int(uncertain[i]), "n_group": n_group,
                        "share": float(shares[i]), "share_ci_low": float(low[i]), "share_ci_high": float(high[i]),
                        "adjusted_share": float(adjusted[i]), "adjusted_ci_low": float(adjusted_low[i]),
                        "adjusted_ci_high": float(adjusted_high[i]),
                        "quoted_figure": "adjusted" if supported else "raw",
                        "quoted_share": float(quoted[0]), "quoted_ci_low": float(quoted[1]),
                        "quoted_ci_high": float(quoted[2]), "quote_note": note,
                        "is_small_group": n_group < min_group_size,
                    })
    return pd.DataFrame(rows)
