"""Label shares per group, adjusted for the engine's measured errors, with the figure to quote.

For every row of agg_label_shares (each grouping, group and dimension, with the raw classify-and-count
share and its Wilson interval): the adjusted share, which inverts the error rates cross-fitted on the
annotations (labels.label_error_rates) by least squares on the simplex, with a bootstrap interval that
resamples both the group and the annotations behind the rates (assets/labels/prevalence.py). A Python
model because that needs small least-squares solves; the raw shares come from SQL, computed once.

Which figure to quote: the adjusted share where the rates rest on at least
var min_random_annotations_per_class randomly drawn warehouse posts of every class (posts like the
ones being counted); otherwise the raw share, with a note saying why.
"""

import zlib

import numpy as np
import pandas as pd

from stigma_insights.assets.labels.prevalence import adjusted_share_interval, adjusted_shares


def quote_rule(dimension: str, rates: pd.DataFrame, random_counts: dict, minimum: int) -> tuple[bool, str]:
    short = [label for label in rates["true_label"].unique() if random_counts.get((dimension, label), 0) < minimum]
    if (rates["measured_on"] != "annotations").any():
        return False, "raw: no annotated posts measure the error rates yet (they come from the taxonomy's examples)"
    if short:
        return False, (
            f"raw: fewer than {minimum} randomly drawn annotated posts for {', '.join(sorted(short))};"
            " the adjusted share is shown but not established"
        )
    return True, f"adjusted: error rates measured on at least {minimum} random annotated posts per class"


def model(dbt, session):
    dbt.config(materialized="table")
    min_random = int(dbt.config.get("min_random_annotations_per_class"))
    shares = dbt.ref("agg_label_shares").df()
    rates = dbt.source("labels", "label_error_rates").df()
    annotations = dbt.source("labels", "annotations").df()
    random_counts = (
        annotations[annotations["sampling"] == "random"].groupby(["dimension", "label"])["post_key"].nunique().to_dict()
    )
    frames = []
    for (grouping, group_value, dimension), group in shares.groupby(["grouping", "group_value", "dimension"]):
        dimension_rates = rates[rates["dimension"] == dimension]
        evidence = dimension_rates.pivot(index="true_label", columns="predicted_label", values="n_items")
        classes = list(evidence.index)
        evidence = evidence.loc[classes, classes].to_numpy()
        supported, note = quote_rule(dimension, dimension_rates, random_counts, min_random)
        group = group.set_index("label").loc[classes].reset_index()
        counts = group["n_posts"].to_numpy()
        adjusted = adjusted_shares(counts / counts.sum(), evidence / np.maximum(evidence.sum(axis=1, keepdims=True), 1))
        seed = zlib.crc32(f"{grouping}|{group_value}|{dimension}".encode())
        adjusted_low, adjusted_high = adjusted_share_interval(counts, evidence, seed=seed)
        group = group.assign(adjusted_share=adjusted, adjusted_ci_low=adjusted_low, adjusted_ci_high=adjusted_high)
        quoted = (
            ("adjusted_share", "adjusted_ci_low", "adjusted_ci_high")
            if supported
            else ("share", "share_ci_low", "share_ci_high")
        )
        frames.append(
            group.assign(
                quoted_figure="adjusted" if supported else "raw",
                quoted_share=group[quoted[0]],
                quoted_ci_low=group[quoted[1]],
                quoted_ci_high=group[quoted[2]],
                quote_note=note,
            )
        )
    columns = [
        "grouping",
        "group_value",
        "dimension",
        "label",
        "n_posts",
        "n_uncertain",
        "n_group",
        "share",
        "share_ci_low",
        "share_ci_high",
        "adjusted_share",
        "adjusted_ci_low",
        "adjusted_ci_high",
        "quoted_figure",
        "quoted_share",
        "quoted_ci_low",
        "quoted_ci_high",
        "quote_note",
        "is_small_group",
    ]
    return pd.concat(frames)[columns].reset_index(drop=True)
