"""The Dagster definitions load, show the full lineage, gate the aggregates and schedule the job."""

import shutil

import dagster as dg
import pytest

from stigma_insights.orchestration.dbt import dbt_project, keep_parse_state
from stigma_insights.orchestration.definitions import defs as load_definitions
from stigma_insights.resources import dbt_cli

from conftest import settings_for

RAW = [
    dg.AssetKey(["raw", name]) for name in ("reddit_dump", "reddit_api", "tiktok_research", "zeeschuimer", "generic")
]
POSTS = dg.AssetKey(["intermediate", "int_posts_deduplicated"])
LABELS = dg.AssetKey(["labels", "post_labels"])
ERROR_RATES = dg.AssetKey(["labels", "label_error_rates"])
ANNOTATIONS = dg.AssetKey(["labels", "annotations"])
LABEL_CLASSES = dg.AssetKey(["labels", "label_classes"])
SHARES = dg.AssetKey(["marts", "agg_label_shares"])
FACT = dg.AssetKey(["marts", "fct_labelled_posts"])
AGGREGATES = [
    dg.AssetKey(["marts", name])
    for name in (
        "agg_stigma_domain_by_platform",
        "agg_intent_by_platform",
        "agg_labels_by_region",
        "agg_labels_by_gender",
        "agg_stigma_source_by_platform",
        "agg_stigma_source_by_age_band",
        "agg_subreddits_by_region",
    )
]
ADJUSTED = dg.AssetKey(["marts", "agg_adjusted_label_shares"])
POST_THEMES, THEMES = dg.AssetKey(["labels", "post_themes"]), dg.AssetKey(["labels", "themes"])
THEMES_BY_DOMAIN = dg.AssetKey(["marts", "agg_themes_by_domain"])


@pytest.fixture(scope="module")
def defs(session_settings) -> dg.Definitions:
    """What `dagster dev -w workspace.yaml` loads (the manifest prepared by the session fixture)."""
    return load_definitions()


def upstream(graph, key) -> set[dg.AssetKey]:
    return set(graph.get(key).parent_keys)


def test_lineage_runs_from_raw_through_labels_to_the_aggregates(defs):
    graph = defs.resolve_asset_graph()
    staging = {
        dg.AssetKey(["staging", f"stg_{source}__{entity}"])
        for source, entities in [
            ("reddit_dump", ("submissions", "comments")),
            ("reddit_api", ("submissions", "comments")),
            ("tiktok_research", ("videos", "comments")),
            ("zeeschuimer", ("videos", "comments")),
        ]
        for entity in entities
    } | {dg.AssetKey(["staging", "stg_generic__items"])}
    unioned = dg.AssetKey(["intermediate", "int_posts_unioned"])

    assert RAW[0] in upstream(graph, dg.AssetKey(["staging", "stg_reddit_dump__submissions"]))
    # Collected pages land before the raw loads of their format (the nightly's and, for the sources whose
    # unit is a day, the backfills'); Zeeschuimer exports and generic tables are dropped by hand.
    history = {"reddit_dump", "tiktok_research"}
    assert [upstream(graph, key) for key in RAW] == [
        {
            dg.AssetKey([group, name])
            for group in ("collect", "collect_history")
            if group == "collect" or name in history
        }
        for name in ("reddit_dump", "reddit_api", "tiktok_research")
    ] + [set(), set()]
    assert upstream(graph, unioned) == staging
    assert unioned in upstream(graph, POSTS)
    assert upstream(graph, LABELS) == upstream(graph, ERROR_RATES) == {POSTS, ANNOTATIONS}
    assert {POSTS, LABELS, POST_THEMES} <= upstream(graph, FACT)
    assert upstream(graph, POST_THEMES) == upstream(graph, THEMES) == {LABELS}
    assert upstream(graph, THEMES_BY_DOMAIN) == {FACT, THEMES}
    assert upstream(graph, LABEL_CLASSES) == set()  # the taxonomy file only
    assert upstream(graph, SHARES) == {FACT, LABEL_CLASSES}
    for aggregate in AGGREGATES[:-1]:  # slices of the shares
        assert upstream(graph, aggregate) == {SHARES}
    assert upstream(graph, AGGREGATES[-1]) == {FACT}
    assert upstream(graph, ADJUSTED) == {SHARES, ERROR_RATES, ANNOTATIONS}


def test_the_fact_table_has_a_blocking_great_expectations_check(defs):
    graph = defs.resolve_asset_graph()
    check_keys = {key for key in graph.asset_check_keys if key.asset_key == FACT}
    gx_checks = [key for key in check_keys if key.name == "gx_fct_labelled_posts"]

    assert gx_checks
    assert graph.get_check_spec(gx_checks[0]).blocking


def test_nightly_schedule_materialises_the_whole_graph_at_two_utc(defs):
    schedule = defs.resolve_schedule_def("nightly_materialise_everything")
    job = defs.resolve_job_def("materialise_everything")

    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone == "UTC"
    assert schedule.job_name == job.name
    assert set(RAW + [POSTS, LABELS, ERROR_RATES, LABEL_CLASSES, FACT, SHARES, ADJUSTED, *AGGREGATES]) <= set(
        job.asset_layer.executable_asset_keys
    )


def test_the_report_follows_the_published_copy_and_a_sensor_frees_killed_runs(defs):
    graph = defs.resolve_asset_graph()
    published = dg.AssetKey(["published", "analyst_marts"])
    report = dg.AssetKey(["published", "insight_report"])

    assert upstream(graph, report) == {published} and {FACT, *AGGREGATES, ADJUSTED} <= upstream(graph, published)
    assert report in defs.resolve_job_def("materialise_everything").asset_layer.executable_asset_keys
    sensor = defs.resolve_sensor_def("release_killed_runs")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING  # on as soon as `make dev` starts


def test_the_landing_sensor_runs_the_job_only_when_files_arrive(tmp_path):
    from stigma_insights.orchestration.sensors import build_landing_sensor

    job = dg.define_asset_job("materialise_everything", selection=dg.AssetSelection.all())
    sensor = build_landing_sensor(tmp_path, job)
    (tmp_path / "reddit_api").mkdir()
    (tmp_path / "reddit_api" / "already_there.json").write_text("{}")

    def tick(cursor):
        return sensor.evaluate_tick(dg.build_sensor_context(cursor=cursor))

    first = tick(None)
    assert not first.run_requests and first.cursor  # what was there before is not a reason to run
    assert not tick(first.cursor).run_requests
    (tmp_path / "reddit_api" / "collected_page.json").write_text("{}")
    (tmp_path / "reddit_api" / "collected_page.json.request").write_text("{}")  # sidecars do not count
    arrived = tick(first.cursor)
    assert len(arrived.run_requests) == 1 and arrived.cursor.startswith("2:")
    assert not tick(arrived.cursor).run_requests
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED


@pytest.mark.slow
def test_each_dbt_step_hands_its_parse_state_to_the_next(tmp_path, session_settings):
    """dbt re-parses the whole project when its profile, which holds the warehouse's path, differs from the one
    the copied parse state was written with: each step passes its state on, so the next one on this warehouse
    parses nothing (about 2 of each nightly step's seconds)."""
    settings = settings_for(tmp_path / "warehouse.duckdb")  # not the warehouse the session's state was parsed for
    project = dbt_project(settings)

    def parse_log(hand_on: bool) -> str:
        invocation = dbt_cli(settings, project).cli(["parse"])
        invocation.wait()
        if hand_on:
            keep_parse_state(invocation.target_path, project)
        log = (invocation.target_path / "dbt.log").read_text()
        shutil.rmtree(invocation.target_path)
        return log

    assert "Unable to do partial parsing because profile has changed" in parse_log(hand_on=False)
    assert "Unable to do partial parsing because profile has changed" in parse_log(hand_on=True)
    assert "Nothing changed, skipping partial parsing" in parse_log(hand_on=False)


def test_the_pipelines_warehouse_connections_cap_duckdbs_memory(tmp_path, monkeypatch):
    """DuckDB's default (80% of the machine) keeps every block a run reads or writes: at 1M posts the labels
    stage held 2.2 GB of embedding-cache blocks. The resources cap it, per CPU unless configured."""
    from stigma_insights.resources import warehouse_resource
    from stigma_insights.settings import DUCKDB_MEMORY_LIMIT_ENV, Settings

    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert Settings.from_env({}, warehouse=tmp_path / "w.duckdb").duckdb_memory_limit == "4096MB"
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert Settings.from_env({}, warehouse=tmp_path / "w.duckdb").duckdb_memory_limit == "1024MB"

    settings = Settings.from_env({DUCKDB_MEMORY_LIMIT_ENV: "300MB"}, warehouse=tmp_path / "w.duckdb")
    for read_only in (False, True):
        with warehouse_resource(settings, read_only=read_only).get_connection() as conn:
            (limit,) = conn.execute("select current_setting('memory_limit')").fetchone()
            assert limit == "286.1 MiB"  # 300 MB in MiB


def test_each_warehouse_has_its_own_dagster_instance_unless_dagster_home_is_set(tmp_path):
    """Runs on another warehouse must not land in the project's history under the same asset keys."""
    from stigma_insights.settings import DAGSTER_HOME_ENV, PROJECT_DIR_ENV, Settings

    project = {PROJECT_DIR_ENV: str(tmp_path / "repo")}
    assert Settings.from_env(project).dagster_home == tmp_path / "repo" / "dagster_home"
    other = Settings.from_env(project, warehouse=tmp_path / "study" / "tiktok.duckdb")
    assert other.dagster_home == tmp_path / "study" / "tiktok_dagster_home"
    chosen = Settings.from_env({**project, DAGSTER_HOME_ENV: str(tmp_path / "mine")}, warehouse=tmp_path / "w.duckdb")
    assert chosen.dagster_home == tmp_path / "mine"
