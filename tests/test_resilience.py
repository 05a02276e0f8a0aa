"""Crashes, concurrent analysts and secrets, with the real CLI in a subprocess."""

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from conftest import REPO_ROOT

CLI = [sys.executable, "-m", "stigma_insights.orchestration.cli", "run", "--log-level", "DEBUG"]


def start_run(warehouse: Path, landing: Path | None = None, **env) -> subprocess.Popen:
    environment = {**os.environ, "STIGMA_INSIGHTS_DUCKDB": str(warehouse), **env}
    environment.pop("STIGMA_INSIGHTS_PUBLISHED", None)
    if landing:
        environment["STIGMA_INSIGHTS_LANDING"] = str(landing)
    return subprocess.Popen(CLI, cwd=REPO_ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def kill_when(process: subprocess.Popen, marker: str, delay: float) -> str:
    """SIGKILL the run (and its dbt children) `delay` seconds after `marker` appears in its log."""
    seen = []
    for line in process.stdout:
        seen.append(line)
        if marker in line:
            time.sleep(delay)
            os.killpg(process.pid, signal.SIGKILL)
            break
    process.wait(timeout=60)
    return "".join(seen)


def finish(process: subprocess.Popen) -> str:
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output[-3000:]
    return output


@pytest.fixture
def landing_with_a_big_dump(tmp_path) -> tuple[Path, int]:
    """The bundled sample plus a 150,000-line dump, so raw loading takes long enough to interrupt."""
    landing = tmp_path / "landing"
    shutil.copytree(REPO_ROOT / "data" / "landing", landing)
    lines = 150_000
    with (landing / "reddit_dump" / "RC_2025-12.ndjson").open("w") as handle:
        for i in range(lines):
            handle.write(json.dumps({"id": f"big{i}", "link_id": "t3_nothere", "body": "[removed]",  # not labelled: keeps the test fast
                                     "author": f"filler_{i % 500}", "subreddit": "mentalhealth",
                                     "created_utc": 1764547200 + i}) + "\n")
    return landing, lines


@pytest.mark.parametrize(
    ("marker", "delay"),
    [("STEP_START - Started execution of step \"raw__reddit_dump\"", 0.5),
     ("Labelling ", 1.0)],
    ids=["killed-during-raw-load", "killed-during-labelling"],
)
def test_a_run_killed_mid_way_recovers_without_duplicates(tmp_path, landing_with_a_big_dump, marker, delay):
    landing, big_lines = landing_with_a_big_dump
    warehouse = tmp_path / "warehouse.duckdb"

    killed_output = kill_when(start_run(warehouse, landing), marker, delay)
    assert marker in killed_output
    # Whatever the kill interrupted is either all there or not there at all.
    if warehouse.exists():
        with duckdb.connect(str(warehouse), read_only=True) as conn:
            if conn.execute("select count(*) from duckdb_tables() where schema_name = 'raw'"
                            " and table_name = 'load_log'").fetchone()[0]:
                logged = conn.execute(
                    "select count(*) from raw.load_log where source_file like '%RC_2025-12%'").fetchone()[0]
                stored = conn.execute(
                    "select count(*) from raw.reddit_dump where record_id like 'big%'").fetchone()[0]
                assert (logged, stored) in ((0, 0), (1, big_lines))

    finish(start_run(warehouse, landing))

    with duckdb.connect(str(warehouse), read_only=True) as conn:
        assert conn.execute("select count(*), count(distinct record_id) from raw.reddit_dump where record_id like 'big%'"
                            ).fetchone() == (big_lines, big_lines)
        assert conn.execute("select count(*) - count(distinct post_key) from marts.fct_labelled_posts").fetchone() == (0,)
        assert conn.execute("select count(*) from labels.post_labels").fetchone()[0] == conn.execute(
            "select count(*) from intermediate.posts where status = 'available' and trim(coalesce(text, '')) <> ''"
        ).fetchone()[0]


def test_analysts_query_the_published_copy_without_a_failure_while_the_pipeline_runs(
    sample_run, session_settings, tmp_path
):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(session_settings.warehouse, warehouse)
    published = tmp_path / "warehouse_published.duckdb"
    secret = "test-secret-" + secrets.token_hex(16)
    finish(start_run(warehouse))  # first publication
    assert published.exists()

    results = {"queries": 0, "failures": []}
    stop = threading.Event()

    def analyst():
        while not stop.is_set():
            try:
                with duckdb.connect(str(published), read_only=True) as conn:
                    conn.execute("select platform, sum(n_posts) from marts.agg_stigma_domain_by_platform group by 1"
                                 ).fetchall()
                    conn.execute("select count(*) from marts.fct_labelled_posts").fetchone()
                results["queries"] += 1
            except Exception as error:  # any failure is what this test counts
                results["failures"].append(repr(error))

    reader = threading.Thread(target=analyst)
    reader.start()
    output = finish(start_run(warehouse, STIGMA_INSIGHTS_PSEUDONYM_KEY=secret))
    stop.set()
    reader.join()

    print(f"analyst queries during the run: {results['queries']}, failures: {len(results['failures'])}")
    assert results["failures"] == [] and results["queries"] > 20
    assert secret not in output
    with duckdb.connect(str(published), read_only=True) as conn:
        assert conn.execute("select count(*) from marts.fct_labelled_posts").fetchone()[0] > 0
