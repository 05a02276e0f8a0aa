"""The insight report as one self-contained HTML file: charts as inline SVG, figures in tables.

Charts are Vega-Lite specs (altair) rendered to SVG by vl-convert in this process, so the file
opens from disk with no network and no JavaScript. Every chart has a table of the same figures
beside it, for screen readers and for copying numbers.
"""

import base64
import importlib.metadata
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import altair as alt
import jinja2
import pandas as pd
import vl_convert

from stigma_insights.assets.publish.analyst_copy import BUNDLED_SAMPLE
from stigma_insights.assets.report.figures import (
    DOMAIN,
    INTENT,
    INTENT_ITEMS,
    ReportFigures,
    changes_table,
    count_text,
    small_groups,
    summary_sentences,
)
from stigma_insights.assets.report.findings import Finding, findings, findings_table, shown_n
from stigma_insights.atomic_file import write_atomically

TEMPLATE = "insight_report.html.j2"
PAGE_WIDTH = 960  # pixels a chart may take (the page's text column)
SHARE_AXIS = alt.X("value:Q", title="share (95% interval)", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1]))
INTERVAL_AXIS = alt.X("low:Q", title="share (95% interval)")  # the same title, so the layers share one
# Each estimate's share column and its 95% interval's columns in marts.agg_adjusted_label_shares.
ESTIMATES = {
    "raw": ("share", "share_ci_low", "share_ci_high"),
    "adjusted": ("adjusted_share", "adjusted_ci_low", "adjusted_ci_high"),
}


@dataclass(frozen=True)
class Section:
    key: str  # stable id: the page anchor and the figure table's data-figure attribute
    title: str
    explanation: str
    chart: alt.TopLevelMixin | None  # None: nothing to draw (the explanation says why)
    table: pd.DataFrame  # the figures the chart draws


def share_chart(rows: pd.DataFrame, columns: int = 4) -> alt.FacetChart | None:
    """Bars of the raw shares with their 95% intervals as error bars, one panel per group. Small groups are
    left to the table: a bar of a handful of items looks as sure as any other. None: every group is small."""
    rows = rows[~rows.is_small_group]
    if rows.empty:
        return None
    data = rows.assign(
        value=rows.share,
        low=rows.share_ci_low,
        high=rows.share_ci_high,
        group=rows.group_value + " (n=" + rows.n_group.map(count_text) + ")",
        items=rows.n_posts.map(count_text),
    )[["group", "label", "value", "low", "high", "items"]]
    base = alt.Chart().encode(y=alt.Y("label:N", title=None))
    bars = base.mark_bar().encode(
        x=SHARE_AXIS,
        tooltip=[
            "group",
            "label",
            alt.Tooltip("value:Q", format=".1%"),
            alt.Tooltip("low:Q", format=".1%"),
            alt.Tooltip("high:Q", format=".1%"),
            "items",
        ],
    )
    error_bars = base.mark_errorbar(ticks=True).encode(x=INTERVAL_AXIS, x2="high:Q")
    columns = min(columns, data.group.nunique())
    panels = alt.layer(bars, error_bars, data=data).properties(width=PAGE_WIDTH // columns - 110)
    return panels.facet(facet=alt.Facet("group:N", title=None), columns=columns)


def raw_versus_adjusted_chart(rows: pd.DataFrame) -> alt.FacetChart:
    """Raw and error-adjusted shares side by side per label, one panel per group."""
    long = pd.concat(
        [
            rows.assign(estimate=name, value=rows[share], low=rows[low], high=rows[high])
            for name, (share, low, high) in ESTIMATES.items()
        ]
    )[["group_value", "label", "estimate", "value", "low", "high"]]
    base = alt.Chart().encode(y=alt.Y("label:N", title=None), yOffset="estimate:N")
    bars = base.mark_bar().encode(
        x=SHARE_AXIS,
        color=alt.Color("estimate:N", title="estimate"),
    )
    error_bars = base.mark_errorbar(ticks=True).encode(x=INTERVAL_AXIS, x2="high:Q")
    panels = alt.layer(bars, error_bars, data=long).properties(width=PAGE_WIDTH // 2 - 160)
    return panels.facet(facet=alt.Facet("group_value:N", title=None), columns=2)


def interval_cells(lows: pd.Series, highs: pd.Series) -> list[str]:
    """A table's 95% interval column as people read it ('12.0% - 30.5%'; empty where a figure has none)."""
    return ["" if pd.isna(low) else f"{low:.1%} - {high:.1%}" for low, high in zip(lows, highs, strict=True)]


def figure_table(rows: pd.DataFrame) -> pd.DataFrame:
    """The figures a share chart draws, formatted as people read them."""
    return pd.DataFrame(
        {
            "group": rows.group_value,
            "label": rows.label,
            "share": rows.share.map("{:.1%}".format),
            "95% interval": interval_cells(rows.share_ci_low, rows.share_ci_high),
            "items": rows.n_posts.map(count_text),
            "of": rows.n_group.map(count_text),
            "small group": rows.is_small_group.map({True: "yes", False: ""}),
        }
    )


def sections(figures: ReportFigures) -> list[Section]:
    """The seed study's figures, in the order the report shows them."""
    domain_by_platform = figures.slice("platform", DOMAIN)
    intent_by_platform_kind = figures.slice("platform_kind", INTENT)
    domain_by_region = figures.slice("region", DOMAIN)
    domain_by_gender = figures.slice("self_disclosed_gender", DOMAIN)
    domain_by_language = figures.slice("language", DOMAIN)
    by_platform = pd.concat([figures.slice("platform", DOMAIN), figures.slice("platform", INTENT)])
    # Adjusted shares are charted only where the marts quote them: elsewhere one line says why not.
    adjusted = by_platform[by_platform.quoted_figure == "adjusted"]
    not_quoted = by_platform[by_platform.quoted_figure != "adjusted"].drop_duplicates("dimension")
    why_not = " ".join(
        f"{dimension} is quoted raw: {note.removeprefix('raw: ')}."
        for dimension, note in zip(not_quoted.dimension, not_quoted.quote_note.astype(str), strict=True)
    )
    small = " Small groups (too few stigma-related items: is_small_group) are in the table, not the chart."
    return [
        Section(
            "stigma-domain-by-platform",
            "Which stigma people describe, by platform",
            "Share of each stigma domain among the posts and comments labelled stigma-related." + small,
            share_chart(domain_by_platform),
            figure_table(domain_by_platform),
        ),
        Section(
            "intent-by-platform-and-kind",
            "Awareness, actionable advice and help-seeking, in posts and in comments",
            f"Share of each intent among {INTENT_ITEMS}; in comments, seeking_help shows who asks for help." + small,
            share_chart(intent_by_platform_kind, columns=2),
            figure_table(intent_by_platform_kind),
        ),
        Section(
            "stigma-domain-by-region",
            "Stigma domain by region of origin",
            "Region of origin of the subreddit or the TikTok region; Global covers communities of no one region."
            + small,
            share_chart(domain_by_region),
            figure_table(domain_by_region),
        ),
        Section(
            "stigma-domain-by-gender",
            "Stigma domain by self-disclosed gender",
            "Gender as authors state it about themselves; most authors do not say ('not disclosed')." + small,
            share_chart(domain_by_gender),
            figure_table(domain_by_gender),
        ),
        Section(
            "stigma-domain-by-language",
            "Stigma domain by language",
            "Language the post is written in (detected; hinglish and taglish mix English with romanised Hindi"
            " or Tagalog). Posts not in English are labelled by the multilingual model: read their groups with"
            " their intervals." + small,
            share_chart(domain_by_language),
            figure_table(domain_by_language),
        ),
        Section(
            "raw-versus-adjusted",
            "Raw versus error-adjusted shares",
            "Raw: classify and count. Adjusted: corrected for the classifier's error rates measured on annotated"
            " posts (its interval carries the uncertainty of those rates too), shown where it is the figure to"
            " quote: where enough annotated real posts of every class measure the rates. " + why_not,
            raw_versus_adjusted_chart(adjusted) if len(adjusted) else None,
            adjusted_table(adjusted),
        ),
    ]


def adjusted_table(rows: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "group": rows.group_value,
            "dimension": rows.dimension,
            "label": rows.label,
            "raw": rows.share.map("{:.1%}".format),
            "adjusted": rows.adjusted_share.map(lambda v: "" if pd.isna(v) else f"{v:.1%}"),
            "adjusted 95% interval": interval_cells(rows.adjusted_ci_low, rows.adjusted_ci_high),
        }
    )


def finding_chart(finding: Finding) -> alt.TopLevelMixin:
    """A finding's figures as bars with their 95% intervals (where a figure has one), one row per figure."""
    data = finding.figures.assign(
        row=finding.figures.group + ": " + finding.figures.label,
        value=finding.figures.share.astype(float),
        low=finding.figures.ci_low.astype(float),
        high=finding.figures.ci_high.astype(float),
        items=shown_n(finding.figures),
    )[["row", "value", "low", "high", "items", "figure"]]
    base = alt.Chart(data).encode(y=alt.Y("row:N", title=None, sort=None))
    bars = base.mark_bar().encode(
        x=SHARE_AXIS,
        color=alt.Color("figure:N", title="figure"),
        tooltip=["row", alt.Tooltip("value:Q", format=".1%"), "items", "figure"],
    )
    error_bars = base.mark_errorbar(ticks=True).encode(x=INTERVAL_AXIS, x2="high:Q")
    return alt.layer(bars, error_bars).properties(width=PAGE_WIDTH - 320)


def finding_table(finding: Finding) -> pd.DataFrame:
    rows = finding.figures
    return pd.DataFrame(
        {
            "group": rows.group,
            "label": rows.label,
            "share": rows.share.map("{:.1%}".format),
            "95% interval": interval_cells(rows.ci_low, rows.ci_high),
            "n": shown_n(rows),
            "figure": rows.figure,
        }
    )


def label_quality_table(figures: ReportFigures) -> pd.DataFrame:
    """Per dimension: macro-F1, accuracy and the annotated posts they were measured on."""
    rows = figures.label_quality.drop_duplicates("dimension").sort_values("dimension")
    return pd.DataFrame(
        {
            "dimension": rows.dimension,
            "macro-F1": rows.macro_f1.map("{:.2f}".format),
            "accuracy": rows.accuracy.map("{:.0%}".format),
            "annotated posts": rows.n_annotated.map("{:,}".format),
            "measured on": rows.measured_on.map(
                {"annotations": "annotated real posts", "taxonomy examples": "the taxonomy's examples only"}
            ),
        }
    )


def svg(chart: alt.TopLevelMixin) -> str:
    return vl_convert.vegalite_to_svg(chart.to_dict())


def png_preview(figures: ReportFigures) -> bytes:
    """The main chart (stigma domain by platform) as PNG, for the asset's page in the Dagster UI."""
    chart = share_chart(figures.slice("platform", DOMAIN)) or alt.Chart(
        pd.DataFrame({"note": ["Too few stigma-related items on every platform to chart"]})
    ).mark_text().encode(text="note:N")
    chart = chart.properties(title="Stigma domain by platform")
    return vl_convert.vegalite_to_png(chart.to_dict(), scale=1)


def preview_markdown(png: bytes) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    return f"![Stigma domain by platform](data:image/png;base64,{encoded})"


def render_html(figures: ReportFigures, built_at: datetime | None = None) -> str:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent), autoescape=True, keep_trailing_newline=True
    )
    uncertain = figures.uncertain
    return environment.get_template(TEMPLATE).render(
        findings=[
            (finding, svg(finding_chart(finding)) if len(finding.figures) else "", finding_table(finding))
            for finding in findings(figures)
        ],
        summary=summary_sentences(figures),
        data_source=(figures.publication or {}).get("data_source"),
        bundled_sample=BUNDLED_SAMPLE,
        label_quality=label_quality_table(figures),
        changes=changes_table(figures),
        tool_version=importlib.metadata.version("stigma-insights"),
        sections=[(section, "" if section.chart is None else svg(section.chart)) for section in sections(figures)],
        uncertain=uncertain.assign(
            labels=uncertain.n_labels.map(count_text),
            uncertain=uncertain.n_uncertain.map(count_text),
            share_uncertain=(uncertain.n_uncertain / uncertain.n_labels.where(uncertain.n_labels > 0)).map(
                "{:.1%}".format
            ),
        ),
        small_groups=(small := small_groups(figures)).assign(n_group_text=small.n_group.map(count_text)),
        subreddits_by_region=figures.subreddits_by_region.assign(
            posts=figures.subreddits_by_region.n_posts.map(count_text),
            stigma_related_posts=figures.subreddits_by_region.n_stigma_related_posts.map(count_text),
        ),
        sources=figures.sources.assign(items=figures.sources.n_items.map(count_text)),
        model_names=figures.model_names,
        taxonomy_versions=figures.taxonomy_versions,
        publication=figures.publication,
        built_at=(built_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"),
    )


def write_report(figures: ReportFigures, target: Path) -> Path:
    """Write the HTML atomically (temp file, then rename): a reader never opens half a report."""
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(target, render_html(figures).encode("utf-8"))
    return target


def write_findings_csv(figures: ReportFigures, target: Path) -> Path:
    """The findings as CSV, one row per figure (counts below the published minimum left empty), for citing."""
    table = findings_table(findings(figures))
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(target, table.to_csv(index=False).encode("utf-8"))
    return target
