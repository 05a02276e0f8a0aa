"""Labelling on Ray (STIGMA_INSIGHTS_LABELS_ENGINE=ray): a local Ray here, one actor asking half a CPU
(actors holding both CPUs of this machine would leave Ray Data's own tasks none)."""

import shutil

import dagster as dg
import duckdb
import polars as pl
import pytest

from stigma_insights.assets.labels.store import label_new_posts
from stigma_insights.assets.labels.taxonomy import load_taxonomy
from stigma_insights.settings import LABELS_ENGINE_ENV, RAY_STAGING_ENV

from conftest import minilm, run_everything, settings_for

pytestmark = [pytest.mark.slow, pytest.mark.scale]

LABELS = "select * exclude (labelled_at) from labels.post_labels order by post_key"
LABEL_KEYS = [dg.AssetKey(["labels", name]) for name in ("post_labels", "label_error_rates", "label_classes")]


def assert_same_labels(on_ray: pl.DataFrame, local: pl.DataFrame) -> None:
    """Equal but for the confidences' last bits (the engines' matrix products see other batch sizes)."""
    confidences = [name for name in local.columns if name.endswith("_confidence")]
    assert on_ray.drop(confidences).equals(local.drop(confidences))
    assert (on_ray.select(confidences) - local.select(confidences)).max().max_horizontal().item() < 1e-5


@pytest.fixture
def local_labels(sample_run, session_settings) -> pl.DataFrame:
    with duckdb.connect(str(session_settings.warehouse), read_only=True) as conn:
        return conn.sql(LABELS).pl()


@pytest.fixture
def warehouse_copy(sample_run, session_settings, tmp_path):
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(session_settings.warehouse, copy)
    return copy


def test_posts_labelled_by_ray_actors_get_the_labels_of_the_local_path(
    warehouse_copy, local_labels, session_settings, tmp_path, monkeypatch
):
    import ray

    staging = tmp_path / "staging"
    monkeypatch.setenv(LABELS_ENGINE_ENV, "ray")
    monkeypatch.setenv(RAY_STAGING_ENV, str(staging))
    relabel = {"relabel_all": True, "log": lambda _: None}
    try:
        with duckdb.connect(str(warehouse_copy)) as conn:
            conn.execute("delete from labels.embedding_cache")  # every post embedded again, by the actors
            embedded = label_new_posts(conn, load_taxonomy(), session_settings.engines_folder, minilm(), **relabel)
            embedded_labels = conn.sql(LABELS).pl()
            cached_vectors = conn.execute("select count(*) from labels.embedding_cache").fetchone()
            from_cache = label_new_posts(conn, load_taxonomy(), session_settings.engines_folder, minilm(), **relabel)
            from_cache_labels = conn.sql(LABELS).pl()
    finally:
        ray.shutdown()

    assert embedded.labelled == len(local_labels) > 300
    assert embedded.embeddings_computed == local_labels["text_sha256"].n_unique()  # one per distinct text
    assert cached_vectors == (embedded.embeddings_computed,)  # the actors' vectors, committed with the labels
    assert len(embedded.labelled_by_route) == 2  # MiniLM and the multilingual model, both on Ray
    assert_same_labels(embedded_labels, local_labels)
    # Again, every vector now cached: the actors take them from the posts' files instead of the models.
    assert (from_cache.embeddings_computed, from_cache.embeddings_from_cache) == (0, len(local_labels))
    assert_same_labels(from_cache_labels, local_labels)
    assert staging.is_dir() and not any(staging.iterdir())  # each run's files removed after its commit


def test_the_labels_asset_labels_on_ray_through_dagster_rays_resource(warehouse_copy, local_labels, monkeypatch):
    import ray

    monkeypatch.setenv(LABELS_ENGINE_ENV, "ray")
    result = run_everything(
        settings_for(warehouse_copy),
        asset_selection=LABEL_KEYS,
        run_config={"ops": {"labels": {"config": {"relabel_all": True}}}},
    )

    assert result.success
    assert not ray.is_initialized()  # the resource connected for the asset and disconnected with the run
    metadata = result.asset_materializations_for_node("labels")[0].metadata
    assert sum(metadata["labelled_this_run_by_model"].value.values()) == len(local_labels)
    with duckdb.connect(str(warehouse_copy), read_only=True) as conn:
        assert_same_labels(conn.sql(LABELS).pl(), local_labels)
