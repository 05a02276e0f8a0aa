"""Embedding on Ray (`STIGMA_INSIGHTS_LABELS_ENGINE=ray`): the posts a labelling run must embed go through
a Ray Data job, one model-loading actor per worker, on a local Ray or the cluster at
`STIGMA_INSIGHTS_RAY_ADDRESS`.

Only the embedding, which is nearly all of the labels' cost, moves: the driver keeps the cache lookups,
the engines, and the one writer that commits each batch to the warehouse. The model is the same, so the
cache keys, model ids and labels are those of the local path.
"""

import os
from collections.abc import Callable

import numpy as np

from stigma_insights.assets.labels.embedding import EMBEDDING_DIM
from stigma_insights.settings import PROJECT_DIR_ENV, Settings

# Texts per actor call: large enough for the model's batches, small enough to spread over the actors.
RAY_BATCH_TEXTS = 256
# What the workers must see to load the same model the same way (a cluster's workers do not inherit it).
FORWARDED_ENV_PREFIXES = ("STIGMA_INSIGHTS_", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


class Embedder:
    """A Ray Data actor: loads the model once (on its first batch), then embeds batch after batch."""

    def __init__(self, embed_texts: Callable[[list[str]], np.ndarray]):
        self.embed_texts = embed_texts

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"position": batch["position"], "embedding": self.embed_texts(list(batch["text"]))}


def start_ray(address: str | None) -> None:
    import ray

    if not ray.is_initialized():
        forwarded = {name: value for name, value in os.environ.items() if name.startswith(FORWARDED_ENV_PREFIXES)}
        # The model files' folder defaults to the project's (the working directory): workers run elsewhere.
        forwarded.setdefault(PROJECT_DIR_ENV, str(Settings.from_env().project_dir))
        ray.init(
            address=address,
            include_dashboard=False,
            log_to_driver=False,
            runtime_env={"env_vars": forwarded},
        )


def actor_pool(workers: int | None = None) -> dict:
    """One actor per GPU, else one per CPU but one (each model's own threads use them); on two CPUs or
    fewer, actors asking half a CPU: actors holding every CPU leave Ray Data's own tasks none, and the
    job stalls. `workers`: that many actors instead (the benchmark)."""
    import ray

    cpus = int(ray.cluster_resources().get("CPU", 1))
    gpus = int(ray.cluster_resources().get("GPU", 0))
    if gpus:
        return {"concurrency": workers or gpus, "num_gpus": 1}
    if cpus > 2:
        return {"concurrency": workers or cpus - 1, "num_cpus": 1}
    return {"concurrency": workers or 1, "num_cpus": 0.5}


def on_ray(
    embed_texts: Callable[[list[str]], np.ndarray], address: str | None, workers: int | None = None
) -> Callable[[list[str]], np.ndarray]:
    """`embed_texts` (a module-level function: Ray ships it by reference), run by Ray actors."""

    def embed_on_ray(texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), np.float32)
        import ray

        start_ray(address)
        dataset = ray.data.from_items([{"position": i, "text": text} for i, text in enumerate(texts)])
        embedded = dataset.map_batches(
            Embedder,
            fn_constructor_kwargs={"embed_texts": embed_texts},
            batch_size=RAY_BATCH_TEXTS,
            **actor_pool(workers),
        ).to_pandas()
        return np.stack(embedded.sort_values("position")["embedding"].to_list()).astype(np.float32)

    return embed_on_ray
