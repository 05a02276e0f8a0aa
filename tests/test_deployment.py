"""Dagster on a cluster: the deployment's instance (deploy/dagster.yaml) keeps runs and event logs in
PostgreSQL; here a pgserver on a Unix socket stands in for the database server."""

import dataclasses
import shutil

import dagster as dg
import psycopg2
import pytest

from conftest import REPO_ROOT, run_job, settings_for

pytestmark = [pytest.mark.slow, pytest.mark.scale]

RAW = [dg.AssetKey(["raw", name]) for name in ("reddit_dump", "reddit_api", "tiktok_research", "zeeschuimer")]


def test_the_deployment_instance_stores_runs_and_events_in_postgres(postgres_server, tmp_path, monkeypatch):
    from stigma_insights.instance import open_instance
    from stigma_insights.orchestration.definitions import MATERIALISE_EVERYTHING

    server, folder = postgres_server
    server.psql("create database dagster;")
    url = f"postgresql://postgres:@/dagster?host={folder}"
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", url.replace("postgresql://", "postgresql+psycopg2://"))
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    settings = dataclasses.replace(settings_for(tmp_path / "warehouse.duckdb"), dagster_home=home)

    result = run_job(settings, MATERIALISE_EVERYTHING, asset_selection=RAW)

    assert result.success
    with psycopg2.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute("select run_id, status from runs")
        assert cursor.fetchall() == [(result.run_id, "SUCCESS")]
        cursor.execute("select count(*) from event_logs where dagster_event_type = 'ASSET_MATERIALIZATION'")
        assert cursor.fetchone() == (len(RAW),)
    with open_instance(settings) as instance:  # what the webserver and the daemon would read
        assert all(instance.get_latest_materialization_event(key) for key in RAW)
