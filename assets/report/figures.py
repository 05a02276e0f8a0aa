"""The insight report's figures and generated summary, read from the published analyst copy only.

The report is built from the same file analysts open, so every number in it can be found again
with SQL on that file; it quotes counts and shares, never post text.
"""

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from stigma_insights.assets.publish.analyst_copy import (
    ANALYST_SCHEMA,
    CHANGES_TABLE,
    MIN_PUBLISHED_COUNT,
    PUBLICATION_TABLE,
)

# The dimensions of the seed study's questions, and the labels the summary speaks of.
RELEVANCE, DOMAIN, INTENT = "relevance", "stigma_domain", "intent"
RELEVANT, SEEKING_HELP, AWARENESS, ADVICE = "relevant", "seeking_help", "awareness", "actionable_advice"
# What intent shares are counted over: stigma-related items, and the comments answering them (thread scope).
INTENT_ITEMS, INTENT_COMMENTS = "items about stigma or answering it", "comments about stigma or answering it"


@dataclass(frozen=True)
class ReportFigures:
    shares: pd.DataFrame  # marts.agg_adjusted_label_shares: raw and adjusted shares of every grouping
    subreddits_by_region: pd.DataFrame
    sources: pd.DataFrame  # items per platform and kind, with their first and last creation time
    model_names: list[str]
    taxonomy_versions: list[str]
    publication: dict | None  # when and by which run the copy was published, with its check counts
    # per dimension and platform: labels given (n_labels) and flagged uncertain (n_uncertain), from the fact
    uncertain: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["dimension", "platform", "n_labels", "n_uncertain"])
    )
    gender_by_platform: pd.DataFrame = field(default_factory=pd.DataFrame)  # marts.agg_disclosed_gender_by_platform
    label_quality: pd.DataFrame = field(default_factory=pd.DataFrame)  # marts.label_quality
    changes: pd.DataFrame = field(default_factory=pd.DataFrame)  # marts.changes_since_last_publication
    reception: pd.DataFrame = field(default_factory=pd.DataFrame)  # marts.agg_reception

    def slice(self, grouping: str, dimension: str) -> pd.DataFrame:
        rows = self.shares[(self.shares.grouping == grouping) & (self.shares.dimension == dimension)]
        return rows.sort_values(["group_value", "label"]).reset_index(drop=True)

    def quoted(self, grouping: str, group_value: str, dimension: str, label: str) -> pd.Series:
        """The row of one figure to quote (quoted_share and its interval say raw or adjusted)."""
        rows = self.slice(grouping, dimension)
        return rows[(rows.group_value == group_value) & (rows.label == label)].iloc[0]

    @property
    def platforms(self) -> list[str]:
        return sorted(self.sources.platform.unique())


def read_figures(published: Path) -> ReportFigures:
    if not published.exists():
        raise FileNotFoundError(f"no published analyst copy at {published}: run `stigma-insights run` first")
    with duckdb.connect(str(published), read_only=True) as conn:
        conn.execute("set TimeZone = 'UTC'")  # times in the report are UTC, whatever the machine's zone
        marts = ANALYST_SCHEMA
        sources = conn.sql(
            f"select platform, kind, count(*) as n_items, min(created_at) as first_created_at,"
            f" max(created_at) as last_created_at from {marts}.fct_labelled_posts group by all order by all"
        ).df()
        versions = conn.sql(
            f"select distinct model_name, taxonomy_version from {marts}.fct_labelled_posts"
            " where model_name is not null order by all"
        ).fetchall()
        tables = {
            t
            for (t,) in conn.execute("select table_name from duckdb_tables() where schema_name = ?", [marts]).fetchall()
        }
        has_publication = PUBLICATION_TABLE in tables
        publication = (
            conn.sql(f"select * from {marts}.{PUBLICATION_TABLE}").df().iloc[0].to_dict() if has_publication else None
        )
        shares = conn.sql(f"select * from {marts}.agg_adjusted_label_shares").df()
        uncertain = conn.sql(
            " union all ".join(
                f"select '{dimension}' as dimension, platform, count(*) as n_labels,"
                f" count(*) filter (where {dimension}_is_uncertain) as n_uncertain"
                f" from {marts}.fct_labelled_posts where {dimension} is not null group by platform"
                for dimension in sorted(shares.dimension.unique())
            )
            + " order by all"
        ).df()
        return ReportFigures(
            shares=shares,
            subreddits_by_region=conn.sql(f"select * from {marts}.agg_subreddits_by_region order by region").df(),
            sources=sources,
            model_names=sorted({model for model, _ in versions}),
            taxonomy_versions=sorted({version for _, version in versions}),
            publication=publication,
            uncertain=uncertain,
            gender_by_platform=conn.sql(f"select * from {marts}.agg_disclosed_gender_by_platform").df(),
            reception=conn.sql(f"select * from {marts}.agg_reception").df(),
            label_quality=conn.sql(f"select * from {marts}.label_quality").df(),
            changes=conn.sql(f"select * from {marts}.{CHANGES_TABLE}").df()
            if CHANGES_TABLE in tables
            else pd.DataFrame(),
        )


def percent(value: float) -> str:
    return f"{value:.0%}"


def is_thin(n: object) -> bool:
    """Too few items to show or say anything of: a withheld count (null in the published copy) or one under
    MIN_PUBLISHED_COUNT."""
    return pd.isna(n) or int(n) < MIN_PUBLISHED_COUNT  # type: ignore[call-overload]


def count_text(n: object) -> str:
    """A count as the report shows it: '<10' when thin, so no figure of the report points at a handful of people."""
    if is_thin(n):
        return f"<{MIN_PUBLISHED_COUNT}"
    return f"{int(n):,}"  # type: ignore[call-overload]


def base_text(n: object) -> str:
    """A figure's base as the text gives it: 'n=127', or 'n<10' where the count is withheld."""
    count = count_text(n)
    return f"n{count}" if count.startswith("<") else f"n={count}"


def interval(row: pd.Series, prefix: str = "quoted") -> str:
    return interval_text(row[f"{prefix}_ci_low"], row[f"{prefix}_ci_high"])


def interval_text(low: float, high: float) -> str:
    return "no interval" if pd.isna(low) else f"95% CI {percent(low)}-{percent(high)}"


def headline_metrics(figures: ReportFigures) -> dict[str, float]:
    """The figures to follow night after night (quoted shares): Dagster plots each as a time series."""
    metrics: dict[str, float] = {}
    for platform in figures.platforms:
        for dimension, grouping, group_value, labels in (
            (RELEVANCE, "platform", platform, [RELEVANT]),
            (DOMAIN, "platform", platform, sorted(figures.slice("platform", DOMAIN).label.unique())),
            (INTENT, "platform_kind", f"{platform} / comment", [SEEKING_HELP]),
            (INTENT, "platform", platform, [AWARENESS, ADVICE]),
        ):
            rows = figures.slice(grouping, dimension)
            for label in labels:
                if ((rows.group_value == group_value) & (rows.label == label)).any():
                    share = figures.quoted(grouping, group_value, dimension, label).quoted_share
                    metrics[f"share {dimension}={label} | {group_value}"] = float(share)
    return metrics


def summary_sentences(figures: ReportFigures) -> list[str]:
    """A few sentences on the headline numbers, generated from the figures (no post text)."""
    sources = figures.sources
    first, last = sources.first_created_at.min(), sources.last_created_at.max()
    sentences = [
        f"This report covers {count_text(sources.n_items.sum())} posts and comments"
        f" ({', '.join(f'{r.platform} {r.kind}s: {count_text(r.n_items)}' for r in sources.itertuples())})"
        f" created between {_day(first)} and {_day(last)}."
    ]
    for platform in figures.platforms:
        relevant = figures.quoted("platform", platform, RELEVANCE, RELEVANT)
        sentences.append(
            f"On {platform}, {percent(relevant.quoted_share)} of labelled items are about mental-health stigma"
            f" ({interval(relevant)}, {base_text(relevant.n_group)})."
        )
        sentences.append(_leading_domain(figures, platform))
        comments = figures.slice("platform_kind", INTENT)
        comments = comments[(comments.group_value == f"{platform} / comment") & (comments.label == SEEKING_HELP)]
        if len(comments):
            row = comments.iloc[0]
            sentences.append(
                f"Of the {platform} {INTENT_COMMENTS}, {percent(row.quoted_share)} ask for help"
                f" ({interval(row)}, {base_text(row.n_group)})."
            )
        awareness = figures.quoted("platform", platform, INTENT, AWARENESS)
        advice = figures.quoted("platform", platform, INTENT, ADVICE)
        sentences.append(
            f"On {platform}, {percent(awareness.quoted_share)} of {INTENT_ITEMS} raise awareness"
            f" ({interval(awareness)}) and {percent(advice.quoted_share)} give actionable advice ({interval(advice)})."
        )
    sentences.append(_quoted_figures_note(figures))
    uncertain = figures.uncertain
    sentences.append(
        f"{count_text(uncertain.n_uncertain.sum())} of {count_text(uncertain.n_labels.sum())} labels"
        f" ({percent(uncertain.n_uncertain.sum() / max(uncertain.n_labels.sum(), 1))}) were flagged uncertain."
    )
    small = small_groups(figures)
    if len(small):
        sentences.append(
            f"{len(small)} groups are too small to chart (in the tables only): read them with care"
            f" ({', '.join(f'{r.group_value} ({base_text(r.n_group)})' for r in small.itertuples())})."
        )
    return sentences


def _day(moment: datetime) -> str:
    return f"{moment:%d %B %Y}"


def _leading_domain(figures: ReportFigures, platform: str) -> str:
    """The most described stigma domain, and whether its interval separates it from the runner-up."""
    rows = figures.slice("platform", DOMAIN)
    rows = rows[rows.group_value == platform].sort_values("quoted_share", ascending=False)
    top, second = rows.iloc[0], rows.iloc[1]
    clear = top.quoted_ci_low > second.quoted_ci_high
    return (
        f"The stigma most described on {platform} is {top.label}: {percent(top.quoted_share)} of stigma-related"
        f" items ({interval(top)}, {base_text(top.n_group)}); "
        + (
            f"clearly ahead of {second.label} ({percent(second.quoted_share)})."
            if clear
            else f"its interval overlaps that of {second.label} ({percent(second.quoted_share)}), so the order"
            " of the two is not established."
        )
    )


def _quoted_figures_note(figures: ReportFigures) -> str:
    adjusted = (figures.shares.quoted_figure == "adjusted").sum()
    if adjusted == 0:
        return (
            "Every figure quoted here is the raw share (classify and count): the error-adjusted shares need more"
            " annotated real posts of every class before they are established (see the raw-versus-adjusted chart)."
        )
    return f"{adjusted} of {len(figures.shares)} quoted figures are adjusted for the classifier's error rates."


def changes_table(figures: ReportFigures) -> pd.DataFrame:
    """The headline figures that moved by a point or more, changed kind (raw / adjusted) or are new."""
    changes = figures.changes
    if changes.empty:
        return changes
    moved = changes[changes.has_changed]
    return pd.DataFrame(
        {
            "group": moved.group_value,
            "dimension": moved.dimension,
            "label": moved.label,
            "before": moved.share_before.map(lambda v: "new" if pd.isna(v) else f"{v:.1%}"),
            "now": moved.share_after.map("{:.1%}".format),
            "change (points)": moved.change.map(lambda v: "" if pd.isna(v) else f"{100 * v:+.1f}"),
            "figure": [
                after if before == after or pd.isna(before) else f"{before} -> {after}"
                for before, after in zip(moved.figure_before, moved.figure_after, strict=True)
            ],
        }
    )


def small_groups(figures: ReportFigures) -> pd.DataFrame:
    """Groups flagged small (on the stigma domain, counted over stigma-related items)."""
    rows = figures.shares[(figures.shares.dimension == DOMAIN) & figures.shares.is_small_group]
    return rows[["grouping", "group_value", "n_group"]].drop_duplicates().sort_values(["grouping", "group_value"])
