"""Crashes, concurrent analysts and secrets, with the real CLI in a subprocess."""

import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from stigma_insights.assets.labels.store import BATCH_SIZE
from stigma_insights.crash_points import LABELS_BATCH_COMMITTED, RAW_LOAD_BEFORE_COMMIT
from stigma_insights.resources import WAREHOUSE_POOL
from stigma_insights.settings import CRASH_AT_ENV, DAGSTER_HOME_ENV, PSEUDONYM_KEY_ENV, PUBLISHED_ENV, WAREHOUSE_ENV

from conftest import REPO_ROOT

pytestmark = pytest.mark.slow  # every test here runs the pipeline or works on its warehouse

CLI = [sys.executable, "-m", "stigma_insights.orchestration.cli", "run", "--log-level", "DEBUG"]


def start_run(warehouse: Path, **env) -> subprocess.Popen:
    """The CLI's run on the bundled sample, into this warehouse (published and its Dagster instance beside it)."""
    environment = {
        **os.environ,
        WAREHOUSE_ENV: str(warehouse),
        DAGSTER_HOME_ENV: str(warehouse.parent / "dagster_home"),
        **env,
    }
    environment.pop(PUBLISHED_ENV, None)
    return subprocess.Popen(
        CLI, cwd=REPO_ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def finish(process: subprocess.Popen) -> str:
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output[-3000:]
    return output


def counts(warehouse: Path, sql: dict[str, str]) -> dict[str, int]:
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        return {name: conn.execute(query).fetchone()[0] for name, query in sql.items()}


def raw_counts(warehouse: Path) -> dict[str, int]:
    """Rows in every raw table there is (each source's table is created by its first load)."""
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "select table_name from duckdb_tables() where schema_name = 'raw' order by 1"
            ).fetchall()
        ]
        return {name: conn.execute(f"select count(*) from raw.{name}").fetchone()[0] for name in tables}


def test_a_run_killed_inside_a_raw_load_leaves_nothing_of_it_and_the_next_run_loads_everything_once(
    sample_run, session_settings, tmp_path
):
    warehouse = tmp_path / "warehouse.duckdb"
    process = start_run(warehouse, **{CRASH_AT_ENV: RAW_LOAD_BEFORE_COMMIT})
    process.communicate(timeout=600)

    assert process.returncode == -signal.SIGKILL
    # The first file's records were inserted when the process died: its transaction left nothing.
    killed = raw_counts(warehouse)
    assert {"load_log", "rejects"} < set(killed) and set(killed.values()) == {0}

    finish(start_run(warehouse))
    assert raw_counts(warehouse) == raw_counts(session_settings.warehouse)
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        assert conn.execute("select count(*) - count(distinct post_key) from marts.fct_labelled_posts").fetchone() == (
            0,
        )


def test_a_run_killed_after_a_batch_of_labels_keeps_it_and_the_next_run_does_not_label_it_again(sample_run, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    labels = {
        "rows": "select count(*) from labels.post_labels",
        "latest": "select epoch_us(max(labelled_at)) from labels.post_labels",
        "labellable": "select count(*) from intermediate.int_posts_deduplicated"
        " where status = 'available' and trim(coalesce(text, '')) <> ''",
    }
    process = start_run(warehouse, **{CRASH_AT_ENV: LABELS_BATCH_COMMITTED})
    process.communicate(timeout=600)
    assert process.returncode == -signal.SIGKILL
    killed = counts(warehouse, labels)
    assert killed["rows"] == min(BATCH_SIZE, killed["labellable"]) > 0
    # The killed run is still "started" in the shared instance and holds the warehouse pool's one slot.
    with dg.DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        [killed_run] = instance.get_runs()
        assert killed_run.status == dg.DagsterRunStatus.STARTED
        assert instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).active_run_ids == {killed_run.run_id}

    output = finish(start_run(warehouse))

    assert counts(warehouse, labels) == {**killed, "rows": killed["labellable"]}  # the batch kept, not relabelled
    assert f"Labelling {killed['labellable'] - killed['rows']} of {killed['labellable']} labellable posts" in output
    # The next run failed the killed one, freed its slot (else it would have waited for ever) and succeeded.
    assert f"Run {killed_run.run_id} had been killed" in output
    with dg.DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        statuses = {run.run_id: run.status for run in instance.get_runs()}
        assert statuses.pop(killed_run.run_id) == dg.DagsterRunStatus.FAILURE
        assert list(statuses.values()) == [dg.DagsterRunStatus.SUCCESS]
        assert instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).active_run_ids == set()
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        assert conn.execute("select count(*) from marts.fct_labelled_posts where relevance is not null").fetchone() == (
            killed["labellable"],
        )


def test_analysts_query_the_published_copy_without_a_failure_while_the_pipeline_runs(
    sample_run, session_settings, tmp_path
):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(session_settings.warehouse, warehouse)
    published = tmp_path / "warehouse_published.duckdb"
    shutil.copy(session_settings.published, published)  # that warehouse's last publication
    secret = "test-secret-" + secrets.token_hex(16)

    results = {"queries": 0, "failures": []}
    stop = threading.Event()

    def analyst():
        while not stop.is_set():
            try:
                with duckdb.connect(str(published), read_only=True) as conn:
                    conn.execute(
                        "select platform, sum(n_posts) from marts.agg_stigma_domain_by_platform group by 1"
                    ).fetchall()
                    conn.execute("select count(*) from marts.fct_labelled_posts").fetchone()
                results["queries"] += 1
            except Exception as error:  # any failure is what this test counts
                results["failures"].append(repr(error))

    # An analyst who keeps the published file open through the whole run, and others who come and go.
    held = duckdb.connect(str(published), read_only=True)
    (before,) = held.execute("select count(*) from marts.agg_label_shares").fetchone()
    reader = threading.Thread(target=analyst)
    reader.start()
    output = finish(start_run(warehouse, **{PSEUDONYM_KEY_ENV: secret}))
    stop.set()
    reader.join()

    print(f"analyst queries during the run: {results['queries']}, failures: {len(results['failures'])}")
    assert results["failures"] == [] and results["queries"] >= 1
    assert held.execute("select count(*) from marts.agg_label_shares").fetchone() == (before,)  # its snapshot
    held.close()
    assert secret not in output
    with duckdb.connect(str(published), read_only=True) as conn:
        assert conn.execute("select count(*) from marts.fct_labelled_posts").fetchone()[0] > 0
