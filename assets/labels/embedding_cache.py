"""Embeddings kept in the warehouse by (model, text hash): a text is embedded once, whatever reruns.

The model part of the key names the model, the backend and the pooling (embedding_model_id), so a
change of backend never mixes vectors. A nightly run embeds only the texts it has not seen.

Starter vectors: the vectors of the starter annotations' texts (data/annotations/vectors/, one Parquet
file per model, written by `stigma-insights annotate export-vectors`) seed a new warehouse's cache, so
a first run does not spend minutes embedding 1,587 long training posts (E5 reads about 3 a second here).
A file whose model id is not the one in use is never read by a lookup: the key keeps models apart.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from stigma_insights.assets.labels.embedding import EMBEDDING_DIM
from stigma_insights.assets.warehouse_tables import CACHE_DDL, CACHE_TABLE
from stigma_insights.lake import sql_string
from stigma_insights.registered import registered


def text_sha256(text: str) -> str:
    """The same hex digest as DuckDB's sha256() of the text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def embed_missing(
    texts: list[str], hashes: list[str], found: dict[str, np.ndarray], embed_texts: Callable[[list[str]], np.ndarray]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One vector per text: `found` (by text hash) where it has one, the others embedded once per distinct
    text; and those computed, by hash."""
    missing = {h: t for h, t in zip(hashes, texts, strict=True) if h not in found}
    computed = dict(zip(missing, embed_texts(list(missing.values())), strict=True)) if missing else {}
    if not hashes:
        return np.zeros((0, EMBEDDING_DIM), np.float32), computed
    return np.stack([found[h] if h in found else computed[h] for h in hashes]), computed


@dataclass
class EmbeddingCache:
    conn: duckdb.DuckDBPyConnection
    model_id: str
    embed_texts: Callable[[list[str]], np.ndarray]  # the model `model_id` names
    hits: int = 0
    computed: int = 0

    def __post_init__(self) -> None:
        self.conn.execute(CACHE_DDL)

    def embed(self, texts: list[str], hashes: list[str] | None = None) -> np.ndarray:
        """One unit-length embedding per text; cached ones are read, the rest computed and stored.

        Call inside the caller's transaction: the new vectors commit with what was built from them.
        """
        hashes = hashes or [text_sha256(text) for text in texts]
        vectors, computed = embed_missing(texts, hashes, self._lookup(sorted(set(hashes))), self.embed_texts)
        if computed:
            self._store(list(computed), np.stack(list(computed.values())))
        self.computed += len(computed)
        self.hits += sum(1 for h in hashes if h not in computed)
        return vectors

    def _lookup(self, hashes: list[str]) -> dict[str, np.ndarray]:
        with registered(self.conn, "wanted_hashes", pa.table({"text_sha256": hashes})):
            found = self.conn.execute(
                f"""select c.text_sha256, c.embedding from {CACHE_TABLE} c
                    semi join wanted_hashes w on c.text_sha256 = w.text_sha256
                    where c.model_id = ?
                    qualify row_number() over (partition by c.text_sha256) = 1""",
                [self.model_id],
            ).to_arrow_table()
        vectors = found["embedding"].combine_chunks().flatten().to_numpy().reshape(-1, EMBEDDING_DIM)
        return dict(zip(found["text_sha256"].to_pylist(), vectors, strict=True))

    def _store(self, hashes: list[str], vectors: np.ndarray) -> None:
        embeddings = pa.FixedSizeListArray.from_arrays(pa.array(vectors.astype(np.float32).ravel()), EMBEDDING_DIM)
        with registered(self.conn, "new_embeddings", pa.table({"text_sha256": hashes, "embedding": embeddings})):
            self.conn.execute(
                f"insert into {CACHE_TABLE} (model_id, text_sha256, embedding)"
                " select ?, text_sha256, embedding from new_embeddings",
                [self.model_id],
            )


def cache_vectors_of(conn: duckdb.DuckDBPyConnection, relation: str) -> tuple[int, int]:
    """Store the vectors of `relation` (`embedding_model`, `text_sha256`, `embedding`: the label files of a
    Ray job) that the cache lacks, one per text and model; returns (vectors stored, rows whose vector the cache
    had)."""
    cached = f"""exists (select 1 from {CACHE_TABLE} c
                         where c.model_id = f.embedding_model and c.text_sha256 = f.text_sha256)"""
    [(hits,)] = conn.execute(f"select count(*) from {relation} f where {cached}").fetchall()
    [(stored,)] = conn.execute(
        f"""insert into {CACHE_TABLE} (model_id, text_sha256, embedding)
            select embedding_model, text_sha256, any_value(embedding) from {relation} f
            where not {cached} group by embedding_model, text_sha256"""
    ).fetchall()
    return stored, hits


def seed_from_starter_vectors(conn: duckdb.DuckDBPyConnection, folder: Path) -> int:
    """Add the vectors of `folder`'s Parquet files (model_id, text_sha256, embedding) that the cache lacks;
    returns how many were added."""
    conn.execute(CACHE_DDL)
    files = sorted(str(path) for path in Path(folder).glob("*.parquet"))
    if not files:
        return 0
    [(added,)] = conn.execute(
        f"""insert into {CACHE_TABLE} (model_id, text_sha256, embedding)
            select model_id, text_sha256, any_value(embedding) from read_parquet(?) f
            where not exists (select 1 from {CACHE_TABLE} c
                              where c.model_id = f.model_id and c.text_sha256 = f.text_sha256)
            group by model_id, text_sha256""",
        [files],
    ).fetchall()
    return added


def export_starter_vectors(conn: duckdb.DuckDBPyConnection, texts: list[str], folder: Path) -> dict[str, int]:
    """Write the cached vectors of `texts`, one Parquet file per model (named by a hash of its id); returns
    the vectors written per model."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    wanted = pa.table({"text_sha256": sorted({text_sha256(text) for text in texts})})
    with registered(conn, "wanted_hashes", wanted):
        models = [m for (m,) in conn.execute(f"select distinct model_id from {CACHE_TABLE} order by 1").fetchall()]
        for model_id in models:
            path = folder / f"{hashlib.sha256(model_id.encode()).hexdigest()[:12]}.parquet"
            relation = f"""select model_id, text_sha256, any_value(embedding) as embedding from {CACHE_TABLE}
                           semi join wanted_hashes using (text_sha256) where model_id = {sql_string(model_id)}
                           group by all order by text_sha256"""
            [(count,)] = conn.execute(f"select count(*) from ({relation})").fetchall()
            if count:
                conn.execute(f"copy ({relation}) to {sql_string(str(path))} (format parquet, compression zstd)")
                written[model_id] = count
    return written
