"""Label shares per group, adjusted for the engine's measured errors, with the figure to quote.

For every row of agg_label_shares (each grouping, group and dimension, with the raw classify-and-count
share and its Wilson interval): the adjusted share, which inverts the error rates cross-fitted on the
annotations (labels.label_error_rates, with a prior that shrinks thinly measured rates toward "no
error", so the adjusted share toward the raw one) by least squares on the simplex, and its 95% interval
from the posterior of both the group's counts and the rates (assets/labels/prevalence.py). A Python
model because that needs small least-squares solves; the raw shares come from SQL, computed once.

Which figure to quote: the adjusted share where the rates rest on at least
var min_annotations_per_class annotated real posts of every class of the dimension (the shipped gold
set of real Reddit posts and posts drawn at random from this warehouse: both were annotated without
regard to the engine); otherwise the raw share, with a note saying why. Cross-validated on the gold
set, the adjusted interval held the true share far more often than the raw one (bench/gold_cv.py).
"""

import zlib

import pandas as pd

from stigma_insights.assets.labels.prevalence import adjusted_share_interval, adjusted_shares, error_rates


def quote_rule(rates: pd.DataFrame, annotated: dict, minimum: int) -> tuple[bool, str]:
    """`rates`: one dimension's label_error_rates; `annotated`: its annotated posts per sampling."""
    if (rates["measured_on"] != "annotations").any():
        return False, "raw: no annotated posts measure the error rates yet (they come from the taxonomy's examples)"
    per_class = rates.groupby("true_label")["n_true"].first()
    short = sorted(per_class[per_class < minimum].index)
    if short:
        return False, (
            f"raw: fewer than {minimum} annotated posts of {', '.join(short)} measure the error rates;"
            " the adjusted share is shown but not established"
        )
    sources = []
    if annotated.get("external"):
        sources.append(f"{annotated['external']} from the shipped set of real Reddit posts (data/annotations/)")
    if annotated.get("random"):
        sources.append(f"{annotated['random']} drawn at random from this warehouse")
    return True, (
        f"adjusted: error rates cross-fitted on {int(per_class.sum())} annotated posts ({'; '.join(sources)});"
        " the interval carries the group's sampling error and the rates' uncertainty"
    )


def model(dbt, session):
    dbt.config(materialized="table")
    minimum = int(dbt.config.get("min_annotations_per_class"))
    shares = dbt.ref("agg_label_shares").df()
    rates = dbt.source("labels", "label_error_rates").df()
    annotations = dbt.source("labels", "annotations").df()
    annotated = annotations.groupby(["dimension", "sampling"])["post_key"].nunique()
    frames = []
    for (grouping, group_value, dimension), group in shares.groupby(["grouping", "group_value", "dimension"]):
        dimension_rates = rates[rates["dimension"] == dimension]
        evidence = dimension_rates.pivot(index="true_label", columns="predicted_label", values="n_items")
        classes = list(evidence.index)
        evidence = evidence.loc[classes, classes].to_numpy()
        by_sampling = annotated[dimension].to_dict() if dimension in annotated else {}
        supported, note = quote_rule(dimension_rates, by_sampling, minimum)
        group = group.set_index("label").loc[classes].reset_index()
        counts = group["n_posts"].to_numpy()
        adjusted = adjusted_shares(counts / counts.sum(), error_rates(evidence))
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
