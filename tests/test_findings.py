"""What the data says: the study's findings written from the marts (assets/report/findings.py)."""

import pandas as pd
import pytest

from stigma_insights.assets.report.figures import ReportFigures
from stigma_insights.assets.report.findings import FINDINGS, findings, findings_table, shown_n

from conftest import reddit_posts

SHARE_COLUMNS = ["grouping", "group_value", "dimension", "label", "quoted_share", "quoted_ci_low", "quoted_ci_high"]


def figures_of(n_group: int | None, n_replies: int | None = 40, n_disclosed: int | None = 25) -> ReportFigures:
    """Marts of one platform, reddit, whose groups hold `n_group` stigma-related items (None: withheld)."""
    rows = [
        ("platform", "reddit", "stigma_domain", "community", 0.62, 0.55, 0.69),
        ("platform", "reddit", "stigma_domain", "self", 0.30, 0.24, 0.37),
        ("platform", "reddit", "intent", "awareness", 0.41, 0.33, 0.49),
        ("platform", "reddit", "intent", "actionable_advice", 0.12, 0.08, 0.18),
        ("platform_kind", "reddit / comment", "intent", "seeking_help", 0.27, 0.19, 0.36),
        ("self_disclosed_age_band", "13-17", "stigma_source", "parents", 0.48, 0.30, 0.66),
        ("self_disclosed_age_band", "25-34", "stigma_source", "parents", 0.15, 0.07, 0.29),
        ("self_disclosed_age_band", "not disclosed", "stigma_source", "parents", 0.2, 0.1, 0.3),
    ]
    shares = pd.DataFrame(rows, columns=SHARE_COLUMNS).assign(
        n_group=pd.array([n_group] * len(rows), dtype="Int64"), quoted_figure="adjusted", is_small_group=False
    )
    regions = pd.DataFrame({"region": ["South Asia", "Global"], "n_subreddits": [8, 6]})
    genders = pd.DataFrame(
        {
            "platform": ["reddit", "reddit"],
            "self_disclosed_gender": ["male", "female"],
            "n_disclosed": pd.array([n_disclosed] * 2, dtype="Int64"),
            "share": [0.64, 0.36],
            "share_ci_low": [0.45, 0.2],
            "share_ci_high": [0.8, 0.55],
        }
    )
    reception = pd.DataFrame(
        {
            "platform": ["reddit"],
            "parent_stigma_domain": ["all"],
            "parent_intent": ["personal_story"],
            "mechanism": ["emotional_reactions"],
            "n_replies": pd.array([n_replies], dtype="Int64"),
            "empathic_share": [0.55],
            "empathic_share_ci_low": [0.4],
            "empathic_share_ci_high": [0.69],
            "n_answered": pd.array([n_replies], dtype="Int64"),
            "answered_with_empathic_reply_share": [0.7],
            "answered_with_empathic_reply_share_ci_low": [0.55],
            "answered_with_empathic_reply_share_ci_high": [0.82],
        }
    )
    return ReportFigures(
        shares, regions, reddit_posts(500), [], [], None, gender_by_platform=genders, reception=reception
    )


def sentences(figures: ReportFigures) -> dict[str, str]:
    return {finding.key: finding.sentence for finding in findings(figures)}


def test_each_finding_states_its_figure_interval_base_and_kind():
    said = sentences(figures_of(n_group=120))

    assert said["community-stigma"] == (
        "On reddit, 62% (95% CI 55%-69%, n=120, adjusted) of stigma-related items describe community stigma"
        " (held by family, peers, workplace or society)."
    )
    assert (
        "41% (95% CI 33%-49%, n=120, adjusted) of items about stigma or answering it raise awareness and 12%"
        " (95% CI 8%-18%," in (said["awareness-versus-actionable"])
    )
    assert said["subreddits-by-region"].endswith("no interval): South Asia 8, Global 6.")
    assert (
        "64% (95% CI 45%-80%, n=25, raw) are by writers who say they are male" in said["disclosed-gender-by-platform"]
    )
    assert said["adolescents-and-parents"] == (
        "Of writers aged 13-17 who describe stigma, 48% (95% CI 30%-66%, n=120, adjusted) name their parents as its"
        " source; against 15% (95% CI 7%-29%, n=120, adjusted) of writers aged 25-34."
    )
    assert "55% (95% CI 40%-69%, n=40, raw) of replies to personal stories" in said["compassion-to-personal-stories"]
    assert (
        "27% (95% CI 19%-36%, n=120, adjusted) of reddit comments about stigma or answering it ask for help"
        in (said["resource-questions-in-comments"])
    )


def test_the_sentences_follow_the_marts():
    before = sentences(figures_of(n_group=120))
    changed = figures_of(n_group=120)
    changed.shares.loc[changed.shares.label == "community", ["quoted_share", "quoted_figure"]] = (0.71, "raw")

    after = sentences(changed)

    assert "71% (95% CI 55%-69%, n=120, raw)" in after["community-stigma"]
    assert after["community-stigma"] != before["community-stigma"]
    assert {k: v for k, v in after.items() if k != "community-stigma"} == {
        k: v for k, v in before.items() if k != "community-stigma"
    }


@pytest.mark.parametrize("n", [None, 9], ids=["withheld-in-the-published-copy", "below-the-minimum"])
def test_thin_data_says_there_is_too_little_to_say(n):
    said = sentences(figures_of(n_group=n, n_replies=n, n_disclosed=n))

    assert said["community-stigma"] == "On reddit there are too few stigma-related items to say."
    assert said["compassion-to-personal-stories"] == "On reddit there are too few replies to personal stories to say."
    assert said["adolescents-and-parents"].startswith("Too few writers who describe stigma say they are 13-17")
    assert said["disclosed-gender-by-platform"].startswith("On reddit there are too few writers stating their gender")
    assert not [
        f
        for f in findings(figures_of(n_group=n, n_replies=n, n_disclosed=n))
        if f.key != "subreddits-by-region" and len(f.figures)
    ]


def test_the_findings_table_has_a_row_per_figure_and_one_for_a_finding_without_figures():
    table = findings_table(findings(figures_of(n_group=None, n_replies=60)))

    assert set(table.finding) == {finding(figures_of(1)).key for finding in FINDINGS}
    thin = table[table.finding == "community-stigma"]
    assert (
        len(thin) == 1
        and thin.share.isna().all()
        and thin.sentence.iloc[0].endswith("too few stigma-related items to say.")
    )
    warm = table[table.finding == "compassion-to-personal-stories"]
    assert list(warm.label) == ["replies showing warmth", "stories with a warm reply"] and list(warm.n) == [60, 60]


def test_counts_of_communities_are_shown_whole_and_counts_of_people_under_ten_are_not():
    found = {finding.key: finding for finding in findings(figures_of(n_group=120, n_replies=9))}

    assert shown_n(found["subreddits-by-region"].figures) == ["8", "6"]
    assert shown_n(found["community-stigma"].figures) == ["120"]
    cited = findings_table(list(found.values()))
    assert list(cited[cited.finding == "subreddits-by-region"].n) == [8, 6]
