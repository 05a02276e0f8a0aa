"""The warehouse on DuckLake (STIGMA_INSIGHTS_LAKE), here with its catalog in a DuckDB file and its data
in a local folder: the sample pipeline publishes the same marts as on the single DuckDB file."""

import dataclasses

import duckdb
import pytest

from stigma_insights.lake import warehouse_connection
from stigma_insights.settings import LakeSettings

from conftest import run_everything, settings_for

pytestmark = pytest.mark.slow

# Columns that say when a run wrote a row: they differ between any two runs.
RUN_TIMES = {
    "fct_labelled_posts": ["labelled_at", "post_refreshed_at", "theme_assigned_at", "fact_written_at"],
    "publication": None,  # the whole table is about the run that published
}


def rounded(row: tuple) -> tuple:
    """Floats to 9 places: a sum's last bit depends on the order DuckDB adds in (threads, files)."""
    return tuple(round(value, 9) if isinstance(value, float) else value for value in row)


def published_marts(path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(path), read_only=True) as conn:
        tables = [name for (name,) in conn.execute("select table_name from duckdb_tables() order by 1").fetchall()]
        marts = {}
        for table in tables:
            if table in RUN_TIMES and RUN_TIMES[table] is None:
                continue
            excluded = f" exclude ({', '.join(RUN_TIMES[table])})" if table in RUN_TIMES else ""
            rows = conn.execute(f"select *{excluded} from marts.{table}").fetchall()
            marts[table] = sorted(map(rounded, rows), key=repr)
    return marts


def test_the_sample_pipeline_on_a_ducklake_publishes_the_same_marts_as_on_the_duckdb_file(
    sample_run, session_settings, tmp_path
):
    lake = LakeSettings(f"ducklake:{tmp_path / 'catalog.ducklake'}", str(tmp_path / "lake_files"))
    settings = dataclasses.replace(settings_for(tmp_path / "warehouse.duckdb"), lake=lake)

    result = run_everything(settings)

    assert result.success
    checks = result.get_asset_check_evaluations()
    assert checks and all(check.passed for check in checks)
    assert not settings.warehouse.exists()  # everything went to the lake
    assert list((tmp_path / "lake_files" / "marts").rglob("*.parquet"))
    assert published_marts(settings.published) == published_marts(session_settings.published)
    # Analysts (or a notebook) read the lake itself from any DuckDB client with the extension.
    with warehouse_connection(settings, read_only=True) as conn:
        assert conn.execute("select count(*) from marts.fct_labelled_posts").fetchone() == (330,)
        assert conn.execute("select current_database()").fetchone() == ("lake",)
