"""Embedding throughput on Ray against the local path (issue #14): the same real posts embedded by MiniLM
(the shipped backend) here, then by a local Ray with 1 and 2 actors. Each Ray run starts its actors
anew (model loading included, as in a labelling run); Ray's own start-up is left out.

    .venv/bin/python bench/ray_labels.py [--texts 2000]

Prints texts/s and the ratio to the local path, and a projection for 100M posts from the measured rates.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stigma_insights.assets.labels.embedding import embed  # noqa: E402
from stigma_insights.assets.labels.ray_engine import on_ray, start_ray  # noqa: E402

from generate_landing import shared_real_texts  # noqa: E402

# `embed` on one H100 with 16 CPUs, real posts (bench/results/gpu_labels_h100.json: tokenising-bound)
GPU_TEXTS_PER_S = 13_771
POSTS = 100_000_000


def rate(embed_texts, texts: list[str]) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    vectors = embed_texts(texts)
    return len(texts) / (time.perf_counter() - started), vectors


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=2000)
    args = parser.parse_args()
    texts = shared_real_texts()[: args.texts]
    embed(texts[:8])  # the model loaded before the clock starts, as the actors' first batch is not
    local, expected = rate(embed, texts)
    print(f"local: {local:,.1f} texts/s on {len(texts)} real posts")
    start_ray(None)
    for workers in (1, 2):
        on_ray_rate, vectors = rate(on_ray(embed, None, workers), texts)
        # each window runs alone (embedding.ONNX_RECIPE): the workers must give the local vectors exactly
        gap = float(np.abs(vectors - expected).max())
        ratio = on_ray_rate / local
        print(f"ray, {workers} actor(s): {on_ray_rate:,.1f} texts/s ({ratio:.2f} x local), max |diff| {gap:.1e}")
    hours = POSTS / local / 3600
    print(
        f"100M posts: {hours:,.0f} h at the local rate on this 2-core machine;"
        f" {POSTS / GPU_TEXTS_PER_S / 3600:,.1f} h on one H100 at {GPU_TEXTS_PER_S:,} texts/s,"
        f" about {POSTS / GPU_TEXTS_PER_S / 3600 / 8:,.1f} h on 8 (one actor each, if the reads keep up)"
    )


if __name__ == "__main__":
    main()
