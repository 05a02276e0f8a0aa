"""Labelling on Ray (`STIGMA_INSIGHTS_LABELS_ENGINE=ray`): the posts a labelling run must label go through a
Ray Data job, on a local Ray or the cluster at `STIGMA_INSIGHTS_RAY_ADDRESS`.

This process writes the posts as Parquet files, each post with the vectors the embedding cache already
has for its text; model-loading actors (one per worker) label them and write Parquet files of labels and
vectors; this process then commits those files in one transaction, so the warehouse keeps one writer.
The files are staged in a folder every worker reaches: a local folder (one machine, or a shared mount) or
object storage (`s3://bucket/prefix`, read and written through pyarrow's filesystems with the AWS SDK's
own variables, AWS_ENDPOINT_URL for an S3-compatible store).
The actors get the engines trained here and load the models of the local path: same labels, same cache keys.
"""

import contextlib
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.dataset as pa_dataset
import pyarrow.fs as pa_fs
import pyarrow.parquet as pq

from stigma_insights.assets.labels.embedding import EMBEDDING_DIM
from stigma_insights.assets.labels.embedding_cache import embed_missing
from stigma_insights.assets.labels.engine import LabelEngine
from stigma_insights.assets.labels.routes import LabelIds, label_batch
from stigma_insights.assets.labels.taxonomy import Taxonomy
from stigma_insights.assets.warehouse_tables import CACHE_TABLE
from stigma_insights.settings import RAY_INIT_OPTIONS, ray_worker_environment

# Posts per actor call: large enough for the model's batches, small enough to spread over the actors.
RAY_BATCH_POSTS = 256
# Posts per Parquet file handed to Ray, and per block of work an actor takes (Ray reads small files as one
# block, which one actor would label alone).
POSTS_PER_FILE = 16384
POSTS_PER_BLOCK = 1024


@dataclass(frozen=True)
class RouteOnRay:
    """A route as the actors get it: its engines (trained by the driver), its embedding model, and the
    column of the posts' files that holds the vector the cache has for a post's text (null: none yet)."""

    ids: LabelIds
    embed_texts: Callable[[list[str]], np.ndarray]  # MiniLM.embed or a module-level function: cloudpickle ships it
    engines: dict[str, LabelEngine]
    cached_column: str

    def embed_rows(self, rows: pl.DataFrame) -> np.ndarray:
        known = rows.filter(pl.col(self.cached_column).is_not_null())
        cached = known[self.cached_column].list.to_array(EMBEDDING_DIM).to_numpy()
        found = dict(zip(known["text_sha256"].to_list(), cached, strict=True))
        vectors, _ = embed_missing(rows["text"].to_list(), rows["text_sha256"].to_list(), found, self.embed_texts)
        return vectors


class PostLabeller:
    """A Ray Data actor: labels batch after batch of posts; its models load on their first batch."""

    def __init__(self, taxonomy: Taxonomy, english: RouteOnRay, other: RouteOnRay | None):
        self.taxonomy, self.english, self.other = taxonomy, english, other

    def __call__(self, batch: pa.Table) -> pa.Table:
        posts = pl.DataFrame(pl.from_arrow(batch))
        labels, vectors = label_batch(posts, self.taxonomy, self.english, self.other)
        return labels.with_columns(embedding=pl.Series(vectors.astype(np.float32))).to_arrow()


def start_ray(address: str | None) -> None:
    """Connect to `address` (None: start a local Ray), unless this process is connected already (in Dagster,
    by the `ray` resource, stigma_insights/resources.py)."""
    import ray

    if not ray.is_initialized():
        ray.init(address=address, runtime_env={"env_vars": ray_worker_environment()}, **RAY_INIT_OPTIONS)


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


def staging_folder(staging: str | None) -> tuple[pa_fs.FileSystem, str]:
    """A new run folder under `staging` (a local folder or an s3:// URI; None: this machine's temporary
    folder) and the filesystem it is on."""
    if not staging or "://" not in staging:
        staging = str(Path(staging or tempfile.gettempdir()).expanduser().resolve())
    filesystem, root = pa_fs.FileSystem.from_uri(staging)
    return filesystem, f"{root.rstrip('/')}/stigma-insights-labels-{uuid.uuid4().hex}"


@contextmanager
def labelled_on_ray(
    conn: duckdb.DuckDBPyConnection,
    posts_table: str,
    taxonomy: Taxonomy,
    english: RouteOnRay,
    other: RouteOnRay | None,
    address: str | None,
    staging: str | None,
    workers: int | None = None,
) -> Iterator[pa_dataset.Dataset]:
    """Label the posts of `posts_table` (`position`, `post_key`, `text`, `text_sha256`, `country_code`) on
    Ray; yields the label files the actors wrote (label rows with their `embedding`) as a
    dataset. `staging`: a folder every worker and this process reach (`staging_folder`; None: this
    machine's temporary folder, enough for a local Ray); the run's files there are removed afterwards."""
    import ray

    filesystem, folder = staging_folder(staging)
    routes = [route for route in (english, other) if route]
    cached = ", ".join(f"{route.cached_column}.embedding as {route.cached_column}" for route in routes)
    joins = " ".join(
        # A list, not the cache's float[384] of older warehouses: polars cannot take slices of nullable arrays.
        f"""left join (select text_sha256, any_value(embedding)::float[] as embedding from {CACHE_TABLE}
                       where model_id = ? group by text_sha256)
                as {route.cached_column} on {route.cached_column}.text_sha256 = posts.text_sha256"""
        for route in routes
    )
    try:
        filesystem.create_dir(f"{folder}/posts")
        posts = conn.execute(
            f"""select posts.post_key, posts.text, posts.text_sha256, posts.country_code, {cached}
                from {posts_table} as posts {joins} order by posts.position""",
            [route.ids.embedding_model for route in routes],
        ).to_arrow_reader(POSTS_PER_FILE)
        # Written by pyarrow: DuckDB 1.5.5's Parquet writer gave an all-null list column that pyarrow cannot read.
        for number, block in enumerate(posts):
            pq.write_table(
                pa.Table.from_batches([block]), f"{folder}/posts/{number:06d}.parquet", filesystem=filesystem
            )
        start_ray(address)
        posts_dataset = ray.data.read_parquet(f"{folder}/posts", filesystem=filesystem)
        posts_dataset.repartition(target_num_rows_per_block=POSTS_PER_BLOCK).map_batches(
            PostLabeller,
            fn_constructor_kwargs={"taxonomy": taxonomy, "english": english, "other": other},
            batch_size=RAY_BATCH_POSTS,
            batch_format="pyarrow",
            **actor_pool(workers),
        ).write_parquet(f"{folder}/labels", filesystem=filesystem)
        yield pa_dataset.dataset(f"{folder}/labels", filesystem=filesystem, format="parquet")
    finally:
        with contextlib.suppress(OSError):  # nothing staged yet, or gone already
            filesystem.delete_dir(folder)
