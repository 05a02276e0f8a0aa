"""The warehouse on DuckLake (STIGMA_INSIGHTS_LAKE): the sample pipeline publishes the same marts as on
the single DuckDB file, with the lake's catalog in a DuckDB file and its data in a local folder, and
(`make test-scale`) on the scale-out stack started on loopback: a PostgreSQL catalog (pgserver) and
S3 data (moto's server), Ray's staged files on S3 too."""

import dataclasses
from typing import Any

import duckdb
import pytest
from loopback_stack import lake_catalog, s3_server

from stigma_insights.assets.labels import ray_engine
from stigma_insights.assets.labels.ray_engine import staging_folder
from stigma_insights.assets.maintenance.storage import maintain_lake
from stigma_insights.lake import attach_lake, warehouse_connection
from stigma_insights.settings import LABELS_ENGINE_ENV, RAY_STAGING_ENV, LakeSettings, Settings

from conftest import run_everything, settings_for

pytestmark = pytest.mark.slow

# Columns that say when a run wrote a row: they differ between any two runs.
RUN_TIMES = {
    "fct_labelled_posts": ["labelled_at", "post_refreshed_at", "theme_assigned_at", "fact_written_at"],
    "publication": None,  # the whole table is about the run that published
}


def published_marts(path) -> dict[str, list[tuple]]:
    """Each mart's rows but the run times, in an order two runs share (floats rounded for the sort only)."""
    with duckdb.connect(str(path), read_only=True) as conn:
        tables = [name for (name,) in conn.execute("select table_name from duckdb_tables() order by 1").fetchall()]
        marts = {}
        for table in tables:
            if table in RUN_TIMES and RUN_TIMES[table] is None:
                continue
            excluded = f" exclude ({', '.join(RUN_TIMES[table])})" if table in RUN_TIMES else ""
            rows = conn.execute(f"select *{excluded} from marts.{table}").fetchall()
            marts[table] = sorted(rows, key=lambda row: repr([round(v, 4) if isinstance(v, float) else v for v in row]))
    return marts


# A sum's last bit depends on the order DuckDB adds in (threads, files), and a confidence's on the float32
# matrix products behind it (batch layout, threads): seen apart by 4e-8 between two runs of the same job.
FLOAT_TOLERANCE = 1e-6


def assert_same_marts(these: dict[str, list[tuple]], those: dict[str, list[tuple]]) -> None:
    """Equal, floats within FLOAT_TOLERANCE."""
    assert these.keys() == those.keys()
    for table, rows in these.items():
        assert len(rows) == len(those[table]), table
        for row, other in zip(rows, those[table], strict=True):
            assert len(row) == len(other)
            for value, expected in zip(row, other, strict=True):
                if isinstance(value, float) and isinstance(expected, float):
                    assert abs(value - expected) <= FLOAT_TOLERANCE, (table, row, other)
                else:
                    assert value == expected, (table, row, other)


def run_on_the_lake_and_compare(lake: LakeSettings, session_settings, tmp_path) -> tuple[Settings, Any]:
    """The whole job on the lake: every check passes, nothing goes to the warehouse file, the published
    marts equal the single-file run's, and the lake itself answers from a plain
    DuckDB connection."""
    settings = dataclasses.replace(settings_for(tmp_path / "warehouse.duckdb"), lake=lake)

    result = run_everything(settings)

    assert result.success
    checks = result.get_asset_check_evaluations()
    assert checks and all(check.passed for check in checks)
    assert not settings.warehouse.exists()
    assert_same_marts(published_marts(settings.published), published_marts(session_settings.published))
    with warehouse_connection(settings, read_only=True) as conn:
        assert conn.execute("select count(*) from marts.fct_labelled_posts").fetchone() == (333,)
        assert conn.execute("select current_database()").fetchone() == ("lake",)
    return settings, result


def test_the_sample_pipeline_on_a_ducklake_publishes_the_same_marts_as_on_the_duckdb_file(
    sample_run, session_settings, tmp_path
):
    """With a retention of nothing, the run's last step expires the run's snapshots and leaves only the files
    the tables read: each table's small files (one or more per landed file) merged into one, the rest deleted."""
    lake = LakeSettings(f"ducklake:{tmp_path / 'catalog.ducklake'}", str(tmp_path / "lake_files"), "0 seconds")
    settings, result = run_on_the_lake_and_compare(lake, session_settings, tmp_path)

    upkeep = result.asset_materializations_for_node("maintenance__warehouse_storage")[0].metadata
    assert upkeep["snapshots_after"].value < upkeep["snapshots_before"].value / 10
    on_disk = list((tmp_path / "lake_files").rglob("*.parquet"))
    assert len(on_disk) == upkeep["data_files_after"].value
    assert any("marts" in path.parts for path in on_disk)
    with warehouse_connection(settings, read_only=True) as conn:
        files_per_table = conn.execute(
            "select count(*) from __ducklake_metadata_lake.ducklake_data_file where end_snapshot is null"
            " group by table_id"
        ).fetchall()
    assert len(files_per_table) > 20 and set(files_per_table) == {(1,)}


@pytest.fixture
def s3_stand_in(monkeypatch):
    """moto's S3 server on loopback with an empty bucket `lake`; the AWS variables point the lake (and the
    dbt subprocess, which inherits them) at it."""
    with s3_server("lake") as (environment, s3):
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        yield s3


@pytest.fixture
def postgres_catalog(postgres_server):
    """An empty PostgreSQL database for the lake's catalog."""
    return lake_catalog(*postgres_server)


@pytest.mark.scale
def test_the_sample_pipeline_on_a_postgres_catalog_with_s3_data_and_labels_on_ray_publishes_the_same_marts(
    sample_run, session_settings, tmp_path, postgres_catalog, s3_stand_in, monkeypatch
):
    """The scale-out stack end to end: the lake's catalog in PostgreSQL, its files on S3, the posts labelled by
    a local Ray's actors through files staged on S3 and their label files committed into the lake. The
    actors' batches are not the local loop's, so confidences agree to FLOAT_TOLERANCE only."""
    monkeypatch.setenv(LABELS_ENGINE_ENV, "ray")
    monkeypatch.setenv(RAY_STAGING_ENV, "s3://lake/ray-staging")
    staged_in = []
    monkeypatch.setattr(
        ray_engine, "staging_folder", lambda staging: staged_in.append(folder := staging_folder(staging)) or folder
    )
    lake = LakeSettings(postgres_catalog, "s3://lake/files/")
    _, result = run_on_the_lake_and_compare(lake, session_settings, tmp_path)
    labelled = result.asset_materializations_for_node("labels")[0].metadata["labelled_this_run_by_model"].value
    assert sum(labelled.values()) == 318 and len(labelled) == 2
    stored = [item["Key"] for item in s3_stand_in.list_objects_v2(Bucket="lake", Prefix="files/marts/")["Contents"]]
    assert stored and all(key.endswith(".parquet") for key in stored)
    [(filesystem, folder)] = staged_in  # the posts and label files went through S3, and were removed after
    assert filesystem.type_name == "s3" and folder.startswith("lake/ray-staging/stigma-insights-labels-")
    left = s3_stand_in.list_objects_v2(Bucket="lake", Prefix="ray-staging/")["Contents"]
    assert [item["Key"] for item in left] == ["ray-staging/"]  # the staging folder itself (its marker), empty


def test_a_retention_that_is_not_an_interval_is_refused_before_the_lake_changes(tmp_path):
    with duckdb.connect() as conn:
        attach_lake(conn, LakeSettings(f"ducklake:{tmp_path / 'catalog.ducklake'}", str(tmp_path / "files")))
        conn.execute("create table t as select 1 as a")
        with pytest.raises(ValueError, match="STIGMA_INSIGHTS_LAKE_RETENTION='a week' is not a DuckDB interval"):
            maintain_lake(conn, "a week")
        options = {name for (name,) in conn.execute("select option_name from lake.options()").fetchall()}
        assert "expire_older_than" not in options
        assert maintain_lake(conn, "1 week")["after"]["data_files"] == 1
        assert "expire_older_than" in {
            name for (name,) in conn.execute("select option_name from lake.options()").fetchall()
        }
