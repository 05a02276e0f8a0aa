"""What the data says: the seed study's findings, each re-measured from the published marts.

The study this platform was modelled on (SOAS Centre for AI Futures with Quilt.AI, "Using AI to Break the
Silence on Mental Health", 2023) reported the findings below. Each gets one sentence written from the
marts at build time, with its interval, its base (n) and whether the quoted figure is adjusted or raw,
and the figures behind it; where the data is too thin to say anything, the sentence says that instead.
No number lives here: change a mart and the sentences change.
"""

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from stigma_insights.assets.publish.analyst_copy import MIN_PUBLISHED_COUNT
from stigma_insights.assets.report.figures import (
    ADVICE,
    AWARENESS,
    DOMAIN,
    INTENT,
    INTENT_COMMENTS,
    INTENT_ITEMS,
    SEEKING_HELP,
    ReportFigures,
    base_text,
    count_text,
    interval_text,
    is_thin,
    percent,
)

SOURCE = "stigma_source"
COMMUNITY, PARENTS, PERSONAL_STORY = "community", "parents", "personal_story"
ADOLESCENTS = "13-17"
EMOTIONAL_REACTIONS = "emotional_reactions"
ALL_DOMAINS = "all"  # agg_reception's rows that pool the domains of the items replied to
# The columns of a finding's figures (its table, its chart and the findings CSV).
FIGURE_COLUMNS = ["group", "label", "share", "ci_low", "ci_high", "n", "figure"]
COMMUNITY_COUNT = "count"  # the figure kind of a count of communities: not of people, so never withheld


@dataclass(frozen=True)
class Finding:
    key: str  # stable id: the page anchor and the CSV's finding column
    study: str  # what the study reported
    sentence: str  # what this data says, or that it is too thin to say
    figures: pd.DataFrame  # FIGURE_COLUMNS: one row per figure the sentence rests on


def share_phrase(share: float, low: float, high: float, n: object, figure: str) -> str:
    """'68% (95% CI 60-75%, n=120, adjusted)': the figure with its interval, base and kind."""
    return f"{percent(share)} ({interval_text(low, high)}, {base_text(n)}, {figure})"


def _figure(group: object, label: object, share: object, low: object, high: object, n: object, figure: str) -> dict:
    return dict(zip(FIGURE_COLUMNS, [group, label, share, low, high, n, figure], strict=True))


def _quoted_rows(figures: ReportFigures, grouping: str, dimension: str, label: str) -> pd.DataFrame:
    rows = figures.slice(grouping, dimension)
    return rows[rows.label == label]


def _quoted(figures: ReportFigures, grouping: str, group_value: str, dimension: str, label: str) -> list[dict]:
    """One quoted share as a figure row, or none where the group is absent or too thin."""
    rows = _quoted_rows(figures, grouping, dimension, label)
    rows = rows[rows.group_value == group_value]
    if rows.empty or is_thin(rows.iloc[0].n_group):
        return []
    row = rows.iloc[0]
    return [
        _figure(
            group_value, label, row.quoted_share, row.quoted_ci_low, row.quoted_ci_high, row.n_group, row.quoted_figure
        )
    ]


def _phrase(row: dict) -> str:
    return share_phrase(row["share"], row["ci_low"], row["ci_high"], row["n"], row["figure"])


def _per_platform(
    figures: ReportFigures, measure: Callable[[str], list[dict]], say: Callable[[str, list[dict]], str], what: str
) -> tuple[str, pd.DataFrame]:
    """One clause per platform from its figure rows, or a 'too few' clause where it has none."""
    clauses, rows = [], []
    for platform in figures.platforms:
        found = measure(platform)
        rows += found
        clauses.append(say(platform, found) if found else f"on {platform} there are too few {what} to say")
    if not clauses:
        return "There is no data to say anything yet.", pd.DataFrame(columns=FIGURE_COLUMNS)
    sentence = "; ".join(clauses)
    return sentence[0].upper() + sentence[1:] + ".", pd.DataFrame(rows, columns=FIGURE_COLUMNS)


def community_stigma(figures: ReportFigures) -> Finding:
    sentence, rows = _per_platform(
        figures,
        lambda platform: _quoted(figures, "platform", platform, DOMAIN, COMMUNITY),
        lambda platform, found: (
            f"on {platform}, {_phrase(found[0])} of stigma-related items describe community"
            " stigma (held by family, peers, workplace or society)"
        ),
        "stigma-related items",
    )
    return Finding(
        "community-stigma", "About 68% of TikTok posts talked about community-created stigma.", sentence, rows
    )


def awareness_versus_actionable(figures: ReportFigures) -> Finding:
    def measure(platform: str) -> list[dict]:
        found = [row for label in (AWARENESS, ADVICE) for row in _quoted(figures, "platform", platform, INTENT, label)]
        return found if len(found) == 2 else []

    sentence, rows = _per_platform(
        figures,
        measure,
        lambda platform, found: (
            f"on {platform}, {_phrase(found[0])} of {INTENT_ITEMS} raise awareness and"
            f" {_phrase(found[1])} give actionable advice"
        ),
        INTENT_ITEMS,
    )
    return Finding(
        "awareness-versus-actionable", "78% of posts were about awareness, only 17% actionable.", sentence, rows
    )


def resource_questions_in_comments(figures: ReportFigures) -> Finding:
    sentence, rows = _per_platform(
        figures,
        lambda platform: _quoted(figures, "platform_kind", f"{platform} / comment", INTENT, SEEKING_HELP),
        lambda platform, found: f"{_phrase(found[0])} of {platform} {INTENT_COMMENTS} ask for help or resources",
        INTENT_COMMENTS,
    )
    return Finding(
        "resource-questions-in-comments",
        "People look for resources in the comment sections.",
        sentence,
        rows,
    )


def subreddits_by_region(figures: ReportFigures) -> Finding:
    regions = figures.subreddits_by_region
    total = int(regions.n_subreddits.sum()) if len(regions) else 0
    study = "8 of 14 subreddits hosted posts only from Asian countries."
    if total == 0:
        return Finding(
            "subreddits-by-region", study, "There are no subreddits in this data.", pd.DataFrame(columns=FIGURE_COLUMNS)
        )
    regions = regions.sort_values(["n_subreddits", "region"], ascending=[False, True])
    rows = pd.DataFrame(
        {
            "group": regions.region,
            "label": "subreddits",
            "share": regions.n_subreddits / total,
            "ci_low": None,
            "ci_high": None,
            "n": regions.n_subreddits,
            "figure": COMMUNITY_COUNT,
        }
    )
    listed = ", ".join(f"{r.region} {r.n_subreddits}" for r in regions.itertuples())
    return Finding(
        "subreddits-by-region",
        study,
        f"The {total} subreddits in this data come from these regions of origin (a count of communities, not a"
        f" sample: no interval): {listed}.",
        rows,
    )


def disclosed_gender_by_platform(figures: ReportFigures) -> Finding:
    genders = figures.gender_by_platform

    def measure(platform: str) -> list[dict]:
        rows = genders[genders.platform == platform].sort_values("share", ascending=False)
        if rows.empty or is_thin(rows.iloc[0].n_disclosed):
            return []
        return [
            _figure(platform, r.self_disclosed_gender, r.share, r.share_ci_low, r.share_ci_high, r.n_disclosed, "raw")
            for r in rows.itertuples()
        ]

    sentence, rows = _per_platform(
        figures,
        measure,
        lambda platform, found: (
            f"of the {platform} items whose writers state their gender, {_phrase(found[0])}"
            f" are by writers who say they are {found[0]['label']}"
        ),
        "writers stating their gender",
    )
    return Finding(
        "disclosed-gender-by-platform",
        "Reddit posts were dominated by males, TikTok skewed towards females.",
        sentence + " Only what writers say about themselves counts; most say nothing.",
        rows,
    )


def adolescents_and_parents(figures: ReportFigures) -> Finding:
    study = "Adolescents struggle most with stigma imposed by their parents."
    bands = _quoted_rows(figures, "self_disclosed_age_band", SOURCE, PARENTS)
    bands = bands[bands.group_value != "not disclosed"]
    found = [
        row
        for band in sorted(bands.group_value)
        for row in _quoted(figures, "self_disclosed_age_band", band, SOURCE, PARENTS)
    ]
    adolescents = [row for row in found if row["group"] == ADOLESCENTS]
    if not adolescents:
        sentence = (
            f"Too few writers who describe stigma say they are {ADOLESCENTS} (fewer than {MIN_PUBLISHED_COUNT}) to"
            " say who holds the stigma they describe."
        )
    else:
        others = [row for row in found if row["group"] != ADOLESCENTS]
        against = (
            "; against " + ", ".join(f"{_phrase(row)} of writers aged {row['group']}" for row in others)
            if others
            else "; too few older writers state their age to compare"
        )
        sentence = (
            f"Of writers aged {ADOLESCENTS} who describe stigma, {_phrase(adolescents[0])} name their parents as"
            f" its source{against}."
        )
    return Finding("adolescents-and-parents", study, sentence, pd.DataFrame(found, columns=FIGURE_COLUMNS))


def compassion_to_personal_stories(figures: ReportFigures) -> Finding:
    reception = figures.reception
    pooled = reception[
        (reception.parent_stigma_domain == ALL_DOMAINS)
        & (reception.parent_intent == PERSONAL_STORY)
        & (reception.mechanism == EMOTIONAL_REACTIONS)
    ]

    def measure(platform: str) -> list[dict]:
        rows = pooled[pooled.platform == platform]
        if rows.empty or is_thin(rows.iloc[0].n_replies):
            return []
        r = rows.iloc[0]
        return [
            _figure(
                platform,
                "replies showing warmth",
                r.empathic_share,
                r.empathic_share_ci_low,
                r.empathic_share_ci_high,
                r.n_replies,
                "raw",
            ),
            _figure(
                platform,
                "stories with a warm reply",
                r.answered_with_empathic_reply_share,
                r.answered_with_empathic_reply_share_ci_low,
                r.answered_with_empathic_reply_share_ci_high,
                r.n_answered,
                "raw",
            ),
        ]

    sentence, rows = _per_platform(
        figures,
        measure,
        lambda platform, found: (
            f"on {platform}, {_phrase(found[0])} of replies to personal stories about stigma"
            f" show warmth or compassion (EPITOME's emotional reactions), and {_phrase(found[1])} of those stories got"
            " at least one such reply"
        ),
        "replies to personal stories",
    )
    return Finding(
        "compassion-to-personal-stories",
        'Stories of personal triumph were "received with appreciation and compassion in the comment section".',
        sentence,
        rows,
    )


FINDINGS = [
    community_stigma,
    awareness_versus_actionable,
    subreddits_by_region,
    disclosed_gender_by_platform,
    adolescents_and_parents,
    compassion_to_personal_stories,
    resource_questions_in_comments,
]


def findings(figures: ReportFigures) -> list[Finding]:
    return [finding(figures) for finding in FINDINGS]


def published_n(figures: pd.DataFrame) -> pd.Series:
    """The n of each figure as it may be published: a count of people under the minimum left out (NA)."""
    keep = [figure == COMMUNITY_COUNT or not is_thin(n) for n, figure in zip(figures.n, figures.figure, strict=True)]
    return figures.n.where(pd.Series(keep, index=figures.index))


def shown_n(figures: pd.DataFrame) -> list[str]:
    """The n of each figure as the report shows it: '<10' for a count of people under the minimum."""
    return [
        f"{int(n):,}" if figure == COMMUNITY_COUNT else count_text(n)
        for n, figure in zip(figures.n, figures.figure, strict=True)
    ]


def findings_table(found: list[Finding]) -> pd.DataFrame:
    """Every figure of every finding, one row each, with its finding and sentence: the findings CSV (counts
    of people under the minimum left empty)."""
    frames = [
        finding.figures.assign(finding=finding.key, study=finding.study, sentence=finding.sentence)
        if len(finding.figures)
        else pd.DataFrame([{"finding": finding.key, "study": finding.study, "sentence": finding.sentence}])
        for finding in found
    ]
    table = pd.concat(frames, ignore_index=True)[["finding", "study", "sentence", *FIGURE_COLUMNS]]
    return table.assign(n=published_n(table))
