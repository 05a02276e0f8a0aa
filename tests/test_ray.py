"""Labelling on Ray (STIGMA_INSIGHTS_LABELS_ENGINE=ray): a local Ray here, one actor asking half a CPU
(actors holding both CPUs of this machine would leave Ray Data's own tasks none)."""

import shutil

import duckdb
import pytest

from stigma_insights.assets.labels.store import label_new_posts
from stigma_insights.assets.labels.taxonomy import load_taxonomy
from stigma_insights.settings import LABELS_ENGINE_ENV

pytestmark = [pytest.mark.slow, pytest.mark.scale]

LABELS = "select * exclude (labelled_at) from labels.post_labels order by post_key"


def test_posts_embedded_by_ray_actors_get_the_labels_of_the_local_path(
    sample_run, session_settings, tmp_path, monkeypatch
):
    import ray

    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(session_settings.warehouse, copy)
    monkeypatch.setenv(LABELS_ENGINE_ENV, "ray")
    try:
        with duckdb.connect(str(copy)) as conn:
            conn.execute("delete from labels.embedding_cache")  # every post embedded again, by the actors
            summary = label_new_posts(
                conn, load_taxonomy(), session_settings.engines_folder, relabel_all=True, log=lambda _: None
            )
            on_ray = conn.sql(LABELS).pl()
    finally:
        ray.shutdown()
    with duckdb.connect(str(session_settings.warehouse), read_only=True) as conn:
        local = conn.sql(LABELS).pl()

    assert summary.labelled == len(local) > 300
    assert summary.embeddings_computed == local["text_sha256"].n_unique()  # one per distinct text
    assert len(summary.labelled_by_route) == 2  # MiniLM and the multilingual model, both on Ray
    confidences = [name for name in local.columns if name.endswith("_confidence")]
    assert on_ray.drop(confidences).equals(local.drop(confidences))
    assert (on_ray.select(confidences) - local.select(confidences)).max().max_horizontal().item() < 1e-5
