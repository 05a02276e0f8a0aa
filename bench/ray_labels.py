"""Labelling throughput on Ray against the local path (issue #14): the same real posts labelled (language,
route, embedding, engines) here batch by batch, then by the Ray Data job of STIGMA_INSIGHTS_LABELS_ENGINE=ray
with 1 and 2 actors, which read the posts from Parquet files and write label files that this process
commits. Each run starts with an empty embedding cache; each Ray run starts its actors anew (model loading
included, as in a labelling run); Ray's own start-up is left out.

    .venv/bin/python bench/ray_labels.py [--posts 2000]

Prints posts/s, the ratio to the local path, whether the labels agree, and a projection for 100M posts.
"""

import argparse
import sys
import time
from pathlib import Path

import duckdb
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stigma_insights.assets.labels.embedding import MiniLM  # noqa: E402
from stigma_insights.assets.labels.embedding_cache import text_sha256  # noqa: E402
from stigma_insights.assets.labels.labeller import training_sets  # noqa: E402
from stigma_insights.assets.labels.multilingual import embed_multilingual, multilingual_model_id  # noqa: E402
from stigma_insights.assets.labels.ray_engine import labelled_on_ray, start_ray  # noqa: E402
from stigma_insights.assets.labels.routes import label_batch  # noqa: E402
from stigma_insights.assets.labels.store import BATCH_SIZE, Route  # noqa: E402
from stigma_insights.assets.labels.taxonomy import load_taxonomy  # noqa: E402
from stigma_insights.assets.warehouse_tables import CACHE_DDL  # noqa: E402
from stigma_insights.settings import Settings  # noqa: E402

from generate_landing import shared_real_texts  # noqa: E402

# `embed` on one H100 with 16 CPUs, real posts (bench/results/gpu_labels_h100.json: tokenising-bound)
GPU_TEXTS_PER_S = 13_771
POSTS = 100_000_000
LABEL_COLUMNS = "post_key, language, relevance, stigma_domain, intent, model_name"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=2000)
    args = parser.parse_args()
    texts = shared_real_texts()[: args.posts]
    taxonomy = load_taxonomy()
    conn = duckdb.connect()
    conn.execute(CACHE_DDL)
    posts = pl.DataFrame(
        {
            "position": range(1, len(texts) + 1),
            "post_key": [f"bench:{i:08d}" for i in range(len(texts))],
            "text": texts,
            "text_sha256": [text_sha256(text) for text in texts],
            "country_code": [None] * len(texts),
        },
        schema_overrides={"country_code": pl.String},
    )
    conn.execute("create temp table posts_to_label as select * from posts")
    settings = Settings.from_env()
    training, engines_folder, minilm = training_sets(taxonomy), settings.engines_folder, MiniLM(settings.embedding)
    english = Route(conn, minilm.model_id, minilm.embed, training, taxonomy, engines_folder, words=True)
    other = Route(conn, multilingual_model_id(), embed_multilingual, training, taxonomy, engines_folder, words=False)
    # the engines trained (or loaded) and the models loaded before the clock starts, as in a labelling run
    print(f"engines: {len(english.engines)} English, {len(other.engines)} multilingual")
    minilm.embed(texts[:8])
    embed_multilingual(texts[:8])

    conn.execute("delete from labels.embedding_cache")
    started = time.perf_counter()
    local = pl.concat(
        label_batch(posts.slice(start, BATCH_SIZE), taxonomy, english, other)[0]
        for start in range(0, len(texts), BATCH_SIZE)
    )
    local_rate = len(texts) / (time.perf_counter() - started)
    print(f"local: {local_rate:,.1f} posts/s on {len(texts)} real posts")
    expected = local.select(LABEL_COLUMNS.split(", ")).sort("post_key")

    start_ray(None)
    for workers in (1, 2):
        conn.execute("delete from labels.embedding_cache")
        started = time.perf_counter()
        routes = english.on_ray("cached_minilm"), other.on_ray("cached_multilingual")
        with labelled_on_ray(conn, "posts_to_label", taxonomy, *routes, None, None, workers) as label_files:
            on_ray = pl.from_arrow(label_files.to_table(columns=LABEL_COLUMNS.split(", "))).sort("post_key")
        rate = len(texts) / (time.perf_counter() - started)
        agree = on_ray.equals(expected)
        print(f"ray, {workers} actor(s): {rate:,.1f} posts/s ({rate / local_rate:.2f} x local), labels equal: {agree}")
    hours = POSTS / local_rate / 3600
    print(
        f"100M posts: {hours:,.0f} h at the local rate on this 2-core machine;"
        f" {POSTS / GPU_TEXTS_PER_S / 3600:,.1f} h on one H100 at {GPU_TEXTS_PER_S:,} texts/s (embedding alone),"
        f" about {POSTS / GPU_TEXTS_PER_S / 3600 / 8:,.1f} h on 8 (one actor each, if the reads keep up)"
    )


if __name__ == "__main__":
    main()
