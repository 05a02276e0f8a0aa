"""What a person sees: the insight report and the Dagster UI in headless Chromium (Debian's, via selenium).

`make test` installs chromium and chromium-driver where they are missing (`make browser`).
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest

from stigma_insights.assets.publish.analyst_copy import OWN_DATA
from stigma_insights.assets.report.figures import count_text, read_figures
from stigma_insights.assets.report.findings import findings
from stigma_insights.assets.report.render import render_html
from stigma_insights.settings import DAGSTER_HOME_ENV, PROJECT_DIR_ENV, PUBLISHED_ENV, WAREHOUSE_ENV

from conftest import REPO_ROOT

pytestmark = pytest.mark.slow

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
# Headless, and no calls home: this machine's network is closed (the report must open with none).
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,6000",  # tall: the UI's asset list renders only the rows in view
]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert CHROMIUM and CHROMEDRIVER, "chromium and chromedriver are missing: run `make browser`"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def table_rows(driver, figure: str) -> list[list[str]]:
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, f'table[data-figure="{figure}"] tbody tr')
    return [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")] for row in rows]


def test_the_report_shows_the_charts_and_the_numbers_of_the_marts(browser, sample_run, session_settings):
    from selenium.webdriver.common.by import By

    browser.get(session_settings.report.as_uri())

    charts = browser.find_elements(By.CSS_SELECTOR, "section > .chart svg")
    assert len(charts) == 6 and all(chart.size["width"] > 300 and chart.size["height"] > 80 for chart in charts)
    with duckdb.connect(str(session_settings.published), read_only=True) as conn:
        domain = conn.execute(
            "select platform, label, share, share_ci_low, share_ci_high, n_posts, n_group"
            " from marts.agg_stigma_domain_by_platform order by platform, label"
        ).fetchall()
        comments_seeking_help = conn.execute(
            "select platform, share from marts.agg_intent_by_platform where kind = 'comment'"
            " and label = 'seeking_help' order by platform"
        ).fetchall()
        [(checks_passed,)] = conn.execute("select checks_passed from marts.publication").fetchall()
    # The figures under the main chart are the mart's, row for row, as a reader sees them.
    assert table_rows(browser, "stigma-domain-by-platform") == [
        [platform, label, f"{share:.1%}", f"{low:.1%} - {high:.1%}", count_text(n), count_text(of), ""]
        for platform, label, share, low, high, n, of in domain
    ]
    # One bar per figure in the main chart, each labelled with its figure (what a screen reader says).
    bars = charts[0].find_elements(By.CSS_SELECTOR, 'path[aria-roledescription="bar"]')
    assert sorted(bar.get_attribute("aria-label").split("; value: ")[1].split(";")[0] for bar in bars) == sorted(
        f"{share:.1%}" for _, _, share, *_ in domain
    )
    assert {bar.get_attribute("aria-label").split("; group: ")[1].split(" (n=")[0] for bar in bars} == {
        "reddit",
        "tiktok",
    }
    summary = browser.find_element(By.ID, "summary").text
    for platform, share in comments_seeking_help:
        assert f"Of the {platform} comments about stigma or answering it, {share:.0%} ask for help" in summary
    assert browser.find_element(By.ID, "checks").text.startswith(f"{checks_passed} passed, 0 failed")
    # Before any figure: the SAMPLE banner (this is the bundled sample) and the methods box's label quality.
    assert browser.find_element(By.ID, "sample-banner").is_displayed()
    with duckdb.connect(str(session_settings.published), read_only=True) as conn:
        quality = conn.execute("select distinct dimension, macro_f1 from marts.label_quality order by 1").fetchall()
    assert [row[:2] for row in table_rows(browser, "label-quality")] == [[d, f"{f1:.2f}"] for d, f1 in quality]
    # What the data says: a sentence per finding of the study, as the published marts give it, after the methods.
    findings_section = browser.find_element(By.ID, "what-the-data-says")
    sections = [s.get_attribute("id") for s in browser.find_elements(By.CSS_SELECTOR, "body > section")]
    assert sections[:4] == ["methods", "what-changed", "what-the-data-says", "summary"]
    said = [p.text for p in findings_section.find_elements(By.CSS_SELECTOR, "p.finding-sentence")]
    assert said == [finding.sentence for finding in findings(read_figures(session_settings.published))]
    assert any("too few" in sentence for sentence in said) and any("95% CI" in sentence for sentence in said)
    # Self-contained: the page fetched nothing besides itself.
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0


def test_a_republished_copy_of_own_data_says_what_changed_and_carries_no_sample_banner(
    browser, sample_run, session_settings, tmp_path
):
    """The sample's published copy as a later publication of someone's own data would leave it: a headline
    share moved 5 points and the engines changed. The report names the figure and the change of method."""
    from selenium.webdriver.common.by import By

    published = tmp_path / "published.duckdb"
    shutil.copy(session_settings.published, published)
    with duckdb.connect(str(published)) as conn:
        conn.execute(
            "update marts.publication set data_source = ?, previous_model_names = 'an earlier engine',"
            " previous_published_at = published_at - interval 1 day",
            [OWN_DATA],
        )
        conn.execute(
            "update marts.changes_since_last_publication"
            " set share_before = share_after - 0.05, change = 0.05, has_changed = (group_value = 'reddit'"
            " and dimension = 'relevance' and label = 'relevant')"
        )
        (now,) = conn.execute(
            "select share_after from marts.changes_since_last_publication"
            " where group_value = 'reddit' and dimension = 'relevance' and label = 'relevant'"
        ).fetchone()
    page = tmp_path / "report.html"
    page.write_text(render_html(read_figures(published)))
    browser.get(page.as_uri())

    assert not browser.find_elements(By.ID, "sample-banner")
    said = browser.find_element(By.ID, "what-changed").text
    assert "The labelling models or engines changed (from an earlier engine to" in said
    assert table_rows(browser, "what-changed") == [
        ["reddit", "relevance", "relevant", f"{now - 0.05:.1%}", f"{now:.1%}", "+5.0", "adjusted"]
    ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def dagster_ui(sample_run, session_settings):
    """The Dagster webserver on the test session's instance and warehouse, as `make dev` serves them."""
    port = free_port()
    environment = {
        **os.environ,
        DAGSTER_HOME_ENV: str(session_settings.dagster_home),
        WAREHOUSE_ENV: str(session_settings.warehouse),
        PROJECT_DIR_ENV: str(REPO_ROOT),
    }
    environment.pop(PUBLISHED_ENV, None)
    webserver = Path(sys.executable).with_name("dagster-webserver")
    server = subprocess.Popen(
        [str(webserver), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO_ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_for_webserver(url, server)
    yield url
    server.terminate()
    server.wait(timeout=30)


def wait_for_webserver(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"{url}/server_info", timeout=2)
            return
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, "the Dagster webserver did not start"
            time.sleep(1)


def test_dev_stops_every_dagster_process_it_started_on_sigterm(tmp_path):
    """`make dev` runs `stigma-insights dev`: a SIGTERM (what make passes on) stops the webserver, the daemon
    and the code servers within seconds, not a minute later or never."""
    import psutil

    port = free_port()
    (tmp_path / "dagster_home").mkdir()
    environment = {
        **os.environ,
        DAGSTER_HOME_ENV: str(tmp_path / "dagster_home"),
        WAREHOUSE_ENV: str(tmp_path / "warehouse.duckdb"),
        PROJECT_DIR_ENV: str(REPO_ROOT),
    }
    dev = subprocess.Popen(
        [sys.executable, "-m", "stigma_insights.orchestration.cli", "dev", "-p", str(port)],
        cwd=REPO_ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    wait_for_webserver(f"http://127.0.0.1:{port}", dev)
    started = psutil.Process(dev.pid).children(recursive=True)
    assert len(started) >= 4  # dagster dev, its webserver, its daemon, a code server

    dev.send_signal(signal.SIGTERM)
    output, _ = dev.communicate(timeout=30)

    _, alive = psutil.wait_procs(started, timeout=5)
    assert alive == [] and dev.returncode == 0, output[-2000:]
    assert output.rstrip().endswith("Dagster stopped: webserver, daemon and code servers.")


def page_once_loaded(driver, *texts: str, timeout: float = 90) -> str:
    """The page's visible text once it shows each of `texts` and nothing is still loading."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def loaded(d) -> str | bool:
        body = d.find_element(By.TAG_NAME, "body").text
        return body if all(text in body for text in texts) and "Loading" not in body else False

    return WebDriverWait(driver, timeout).until(loaded)


def test_the_dagster_ui_lists_every_asset_as_materialised_by_the_cli_run(browser, dagster_ui, sample_run):
    asset_count = len({event.asset_key for event in sample_run.get_asset_materialization_events()})

    browser.get(f"{dagster_ui}/assets?view=flat")
    page = page_once_loaded(browser, "marts / fct_labelled_posts")

    assert "Never materialized" not in page
    assert page.count("\nMaterialized\n") == asset_count >= 29


def test_the_dagster_ui_shows_the_report_metadata_and_the_marts_row_counts(browser, dagster_ui, sample_run):
    browser.get(f"{dagster_ui}/assets/published/insight_report")
    page = page_once_loaded(browser, "share stigma_domain=community | reddit")
    assert "Latest materialization" in page and "preview" in page

    browser.get(f"{dagster_ui}/assets/marts/fct_labelled_posts")
    # The column rows come from a second query, after the table's header: wait for one of them.
    page = page_once_loaded(browser, "Row count", "Column name", "Keyed pseudonym of the post")
    [event] = [e for e in sample_run.get_asset_materialization_events() if e.asset_key.path[-1] == "fct_labelled_posts"]
    assert f"Row count\n{event.materialization.metadata['dagster/row_count'].value:,}" in page
    # The column schema with the warehouse's types and the dbt descriptions.
    assert "post_key\nVARCHAR\nKeyed pseudonym of the post" in page and "created_at\nTIMESTAMP WITH TIME ZONE" in page
