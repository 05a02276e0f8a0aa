"""The insight report: built by the run and by `stigma-insights report`, from the published copy alone."""

import base64
import dataclasses
import hashlib
import html
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from stigma_insights.assets.publish.analyst_copy import (
    BUNDLED_SAMPLE,
    CHANGES_TABLE,
    OWN_DATA,
    OWN_DATA_WITH_SAMPLE,
    PUBLICATION_TABLE,
    Publication,
    change_summary,
    data_source,
    publish_marts,
)
from stigma_insights.assets.report.figures import ReportFigures, read_figures, summary_sentences
from stigma_insights.assets.report.findings import findings
from stigma_insights.assets.report.render import render_html, sections
from stigma_insights.instance import open_instance
from stigma_insights.orchestration.cli import main

from conftest import reddit_posts

REPORT = dg.AssetKey(["published", "insight_report"])
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def quoted_shares(published) -> dict[tuple[str, str, str, str], float]:
    with duckdb.connect(str(published), read_only=True) as conn:
        rows = conn.execute(
            "select grouping, group_value, dimension, label, quoted_share from marts.agg_adjusted_label_shares"
        ).fetchall()
    return {tuple(row[:4]): row[4] for row in rows}


@pytest.mark.slow
def test_the_run_publishes_the_report_with_its_headline_shares_as_numeric_metadata(sample_run, session_settings):
    [event] = [e for e in sample_run.get_asset_materialization_events() if e.asset_key == REPORT]
    metadata = event.materialization.metadata
    assert session_settings.report.exists() and metadata["path"].value == str(session_settings.report)

    quoted = quoted_shares(session_settings.published)
    expected = {}
    for platform in ("reddit", "tiktok"):
        expected[f"share relevance=relevant | {platform}"] = quoted["platform", platform, "relevance", "relevant"]
        for label in ("community", "professional", "self"):
            expected[f"share stigma_domain={label} | {platform}"] = quoted["platform", platform, "stigma_domain", label]
        for label in ("awareness", "actionable_advice"):
            expected[f"share intent={label} | {platform}"] = quoted["platform", platform, "intent", label]
        comments = f"{platform} / comment"
        expected[f"share intent=seeking_help | {comments}"] = quoted[
            "platform_kind", comments, "intent", "seeking_help"
        ]
    numeric = {name: value.value for name, value in metadata.items() if isinstance(value, dg.FloatMetadataValue)}
    assert numeric == pytest.approx(expected) and len(numeric) == 14

    preview = metadata["preview"].value
    assert preview.startswith("![Stigma domain by platform](data:image/png;base64,")
    png = base64.b64decode(preview.split("base64,", 1)[1].rstrip(")"))
    assert png.startswith(PNG_SIGNATURE) and len(png) > 5_000


@pytest.mark.slow
def test_the_publication_table_records_the_run_and_every_check_it_passed(sample_run, session_settings):
    with duckdb.connect(str(session_settings.published), read_only=True) as conn:
        [publication] = conn.sql(f"select * from marts.{PUBLICATION_TABLE}").df().to_dict("records")
    with open_instance(session_settings) as instance:
        run = instance.get_run_by_id(publication["dagster_run_id"])
        records = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    evaluations = [record.event_log_entry.dagster_event.asset_check_evaluation_data for record in records]
    assert run.job_name == "materialise_everything" and run.status == dg.DagsterRunStatus.SUCCESS
    assert publication["checks_passed"] == sum(e.passed for e in evaluations) >= 90
    assert (publication["checks_failed"], publication["failed_checks"]) == (0, "")


@pytest.mark.slow
def test_the_report_command_builds_the_report_from_the_published_file_alone(sample_run, session_settings, tmp_path):
    published = tmp_path / "elsewhere.duckdb"
    shutil.copy(session_settings.published, published)
    out = tmp_path / "report.html"

    csv = tmp_path / "findings.csv"

    assert main(["report", "--published", str(published), "--out", str(out), "--findings-csv", str(csv)]) == 0

    page = html.unescape(out.read_text(encoding="utf-8"))
    figures = read_figures(published)
    assert all(f'id="{section.key}"' in page for section in sections(figures))
    assert all(f'id="finding-{finding.key}"' in page for finding in findings(figures))
    charted = [finding for finding in findings(figures) if len(finding.figures)]
    cited = pd.read_csv(csv)
    assert list(cited.drop_duplicates("finding").sentence) == [finding.sentence for finding in findings(figures)]
    assert len(cited) == sum(max(len(finding.figures), 1) for finding in findings(figures))
    people = cited[cited.figure != "count"]  # counts of subreddits are of communities, not people
    assert (people.n.dropna() >= 10).all()  # a count the published copy withholds stays out of the CSV too
    assert (
        page.count("<svg") == sum(s.chart is not None for s in sections(figures)) + len(charted) == 6 + len(charted)
        and "<script" not in page
        and "http" not in page.split("</svg>")[-1]
    )
    # Counts and shares only: no post text, no post or author pseudonym.
    with duckdb.connect(str(published), read_only=True) as conn:
        texts = [
            t for (t,) in conn.execute("select text from marts.fct_labelled_posts where length(text) > 60").fetchall()
        ]
        keys = conn.execute("select post_key, author_id from marts.fct_labelled_posts").fetchall()
    assert len(texts) > 100 and not [text for text in texts if text[:60] in page]
    assert not [key for pair in keys for key in pair if key and key in page]

    # Built from the bundled sample, the report says so before anything else; on own data it does not.
    assert 'id="sample-banner"' in page and page.index('id="sample-banner"') < page.index('id="what-the-data-says"')
    assert "The bundled sample (not real data)." in page
    own = render_html(dataclasses.replace(figures, publication={**figures.publication, "data_source": OWN_DATA}))
    assert 'id="sample-banner"' not in own and "collected by this installation (own data)" in own
    quality = figures.label_quality.drop_duplicates("dimension")
    assert len(quality) == 4 and all(f"<td>{row.macro_f1:.2f}</td>" in page for row in quality.itertuples())

    assert main(["report", "--published", str(tmp_path / "missing.duckdb")]) == 2


def _domain_shares(community: tuple[float, float, float], self_: tuple[float, float, float]) -> ReportFigures:
    """Figures of one platform whose stigma-domain shares (share, ci_low, ci_high) are given."""
    rows = []
    for label, (share, low, high) in (("community", community), ("self", self_), ("professional", (0.1, 0.05, 0.2))):
        rows.append(("platform", "reddit", "stigma_domain", label, share, low, high))
    rows += [
        ("platform", "reddit", "relevance", "relevant", 0.5, 0.4, 0.6),
        ("platform", "reddit", "intent", "awareness", 0.3, 0.2, 0.4),
        ("platform", "reddit", "intent", "actionable_advice", 0.2, 0.1, 0.3),
    ]
    shares = pd.DataFrame(
        rows,
        columns=["grouping", "group_value", "dimension", "label", "quoted_share", "quoted_ci_low", "quoted_ci_high"],
    ).assign(n_group=100, n_posts=10, n_uncertain=1, quoted_figure="raw", is_small_group=False)
    return ReportFigures(shares, pd.DataFrame(), reddit_posts(200), [], [], None)


def test_the_summary_says_whether_the_leading_stigma_domain_is_clearly_ahead():
    clear = summary_sentences(_domain_shares(community=(0.6, 0.5, 0.7), self_=(0.3, 0.2, 0.4)))
    assert any("on reddit is community: 60%" in s and "clearly ahead of self (30%)" in s for s in clear)

    overlapping = summary_sentences(_domain_shares(community=(0.45, 0.35, 0.55), self_=(0.4, 0.3, 0.5)))
    assert any("overlaps that of self (40%), so the order of the two is not established" in s for s in overlapping)
    assert any("raw share" in s for s in overlapping)  # no figure is adjusted


def test_the_data_source_is_the_bundled_sample_only_when_every_loaded_file_is_one_of_its_files(tmp_path):
    """By the bytes of the files loaded, or by a shipped file's path (an earlier release's version of it)."""
    sample = tmp_path / "landing"
    (sample / "reddit_dump").mkdir(parents=True)
    shipped = sample / "reddit_dump" / "RS_2026-01.ndjson"
    shipped.write_text('{"id": "a"}\n')
    own = tmp_path / "elsewhere" / "RS_2026-03.ndjson"
    own.parent.mkdir()
    own.write_text('{"id": "b"}\n')
    conn = duckdb.connect()
    conn.execute("create schema raw; create table raw.load_log (source_file varchar, file_sha256 varchar)")

    def loaded(*files: tuple[Path, str]) -> str:
        conn.execute("delete from raw.load_log")
        for path, sha in files:
            conn.execute("insert into raw.load_log values (?, ?)", [str(path), sha])
        return data_source(conn, sample)

    sha = hashlib.sha256(shipped.read_bytes()).hexdigest()
    assert loaded((shipped, sha)) == BUNDLED_SAMPLE
    assert loaded((tmp_path / "copy.ndjson", sha)) == BUNDLED_SAMPLE  # the same bytes, from another folder
    assert loaded((shipped, "an earlier release's bytes")) == BUNDLED_SAMPLE
    assert loaded((shipped, sha), (own, "own bytes")) == OWN_DATA_WITH_SAMPLE
    assert loaded((own, "own bytes")) == OWN_DATA
    assert loaded() == OWN_DATA  # nothing loaded: nothing to call a sample


def test_a_publication_says_what_changed_since_the_copy_it_replaced(tmp_path):
    """Headline quoted shares before and after, and the labelling ids before and after; the first copy has
    nothing to compare with."""
    conn = duckdb.connect()
    conn.execute(
        "create schema marts;"
        " create table marts.agg_adjusted_label_shares as select * from (values"
        " ('platform', 'reddit', 'relevance', 'relevant', 0.20::double, 'adjusted'),"
        " ('region', 'Europe', 'relevance', 'relevant', 0.30::double, 'raw'))"
        " t(grouping, group_value, dimension, label, quoted_share, quoted_figure);"
        " create table marts.fct_labelled_posts as select 'minilm|engine:a' as model_name, '1' as taxonomy_version"
    )
    target = tmp_path / "published.duckdb"
    run = Publication("run", 1, 0, "", OWN_DATA)

    publish_marts(conn, target, run)
    assert change_summary(target) == {"previous_published_at": "none: the first publication"}
    conn.execute("update marts.agg_adjusted_label_shares set quoted_share = quoted_share + 0.04")
    conn.execute("update marts.fct_labelled_posts set model_name = 'minilm|engine:b'")
    publish_marts(conn, target, run)

    with duckdb.connect(str(target), read_only=True) as copy:
        changes = copy.execute(f"select group_value, share_before, share_after, change from marts.{CHANGES_TABLE}")
        assert [tuple(round(v, 2) if isinstance(v, float) else v for v in row) for row in changes.fetchall()] == [
            ("reddit", 0.2, 0.24, 0.04)  # the headline groupings only
        ]
        [ids] = copy.execute("select previous_model_names, model_names from marts.publication").fetchall()
    assert ids == ("minilm|engine:a", "minilm|engine:b")
    summary = change_summary(target)
    assert summary["headline_figures_changed"] == 1 and summary["method_changed"] is True
