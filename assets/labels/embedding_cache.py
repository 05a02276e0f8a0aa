"""Embeddings kept in the warehouse by (model, text hash): a text is embedded once, whatever reruns.

The model part of the key names the model, the backend and the pooling (embedding_model_id), so a
change of backend never mixes vectors. A nightly run embeds only the texts it has not seen.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa

from stigma_insights.assets.labels.embedding import EMBEDDING_DIM, embed, embedding_model_id
from stigma_insights.registered import registered

CACHE_TABLE = "labels.embedding_cache"
CACHE_DDL = f"""
create schema if not exists labels;
create table if not exists {CACHE_TABLE} (
    model_id varchar not null,
    text_sha256 varchar not null,
    embedding float[] not null,  -- EMBEDDING_DIM values; a list, not float[N]: DuckLake has no fixed-size arrays
    embedded_at timestamptz not null default current_timestamp
)
"""


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
    model_id: str = field(default_factory=embedding_model_id)
    embed_texts: Callable[[list[str]], np.ndarray] = embed  # the model `model_id` names
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
    """Store the vectors of `relation` (`embedding_model_id`, `text_sha256`, `embedding`: the label files of a
    Ray job) that the cache lacks, one per text and model; returns (vectors stored, rows whose vector the cache
    had)."""
    cached = f"""exists (select 1 from {CACHE_TABLE} c
                         where c.model_id = f.embedding_model_id and c.text_sha256 = f.text_sha256)"""
    [(hits,)] = conn.execute(f"select count(*) from {relation} f where {cached}").fetchall()
    [(stored,)] = conn.execute(
        f"""insert into {CACHE_TABLE} (model_id, text_sha256, embedding)
            select embedding_model_id, text_sha256, any_value(embedding) from {relation} f
            where not {cached} group by embedding_model_id, text_sha256"""
    ).fetchall()
    return stored, hits
