"""Label how each reply receives what it answers (empathy, `empathy.py`), incrementally.

A reply is a comment; what it answers is its parent comment when it replies to one, else its
thread's post. A reply keeps its row while its text, its parent's text (by hash) and the engines
(by the artifact's hash) are unchanged. Replies whose parent is not in the warehouse (not collected,
deleted) are labelled from their own text (`context` = reply_only); replies not in English get a row
with no levels (`context` = language_not_supported: the engines learnt English replies only), so every
reply is accounted for.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from stigma_insights.assets.ingest.readers import file_sha256
from stigma_insights.assets.labels.annotations import LABELLABLE_POSTS
from stigma_insights.assets.labels.embedding import MiniLM
from stigma_insights.assets.labels.embedding_cache import EmbeddingCache
from stigma_insights.assets.labels.empathy import MECHANISMS, EmpathyEngines
from stigma_insights.assets.labels.routes import ENGLISH_ROUTE_LANGUAGES
from stigma_insights.assets.warehouse_tables import REPLY_EMPATHY_TABLE, reply_empathy_ddl
from stigma_insights.registered import registered

NOT_ENGLISH = "language_not_supported"
BATCH_SIZE = 4096
# Every labellable reply, with the text it answers where that is labellable too, and its language.
REPLIES_SQL = f"""
    select
        reply.post_key,
        reply.text,
        sha256(reply.text) as reply_sha256,
        parent.post_key as parent_key,
        parent.text as parent_text,
        sha256(parent.text) as parent_sha256,
        coalesce(language.language, 'und') in ({", ".join(f"'{code}'" for code in ENGLISH_ROUTE_LANGUAGES)})
            as in_english
    from (select * from intermediate.int_posts_deduplicated where kind = 'comment' and {LABELLABLE_POSTS}) as reply
    left join (select * from intermediate.int_posts_deduplicated where {LABELLABLE_POSTS}) as parent
        on parent.post_key = coalesce(reply.parent_comment_key, reply.thread_key)
    left join labels.post_labels as language on language.post_key = reply.post_key
"""


@dataclass(frozen=True)
class ReceptionSummary:
    labelled: int  # replies labelled this run
    kept: int  # replies whose row was still valid
    removed: int  # rows of replies no longer labellable, or whose text, parent or engines changed
    by_context: dict[str, int]  # every reply's context, after the run
    engines_sha256: str


def label_new_replies(
    conn: duckdb.DuckDBPyConnection, engines_path: Path, minilm: MiniLM, relabel_all: bool = False, log=print
) -> ReceptionSummary:
    engines_sha256 = file_sha256(engines_path)
    conn.execute(reply_empathy_ddl(MECHANISMS))
    conn.execute(f"create or replace temp table replies_now as {REPLIES_SQL}")
    removed = conn.execute(
        f"""delete from {REPLY_EMPATHY_TABLE} as done
            where ? or not exists (
                select 1 from replies_now as now
                where now.post_key = done.post_key and now.reply_sha256 = done.reply_sha256
                  and now.parent_sha256 is not distinct from done.parent_sha256
                  and done.engines_sha256 = ?)""",
        [relabel_all, engines_sha256],
    ).fetchall()[0][0]
    todo = conn.execute(
        f"select * from replies_now anti join {REPLY_EMPATHY_TABLE} using (post_key) order by post_key"
    ).pl()
    kept = conn.execute(f"select count(*) from {REPLY_EMPATHY_TABLE}").fetchall()[0][0]
    if len(todo):
        engines = EmpathyEngines.load(engines_path)
        cache = EmbeddingCache(conn, minilm.model_id, minilm.embed)
        for start in range(0, len(todo), BATCH_SIZE):
            batch = todo.slice(start, BATCH_SIZE)
            conn.begin()
            rows = _labelled_rows(batch, engines, cache, engines_sha256)
            with registered(conn, "new_reply_empathy", rows.to_arrow()):
                conn.execute(f"insert into {REPLY_EMPATHY_TABLE} by name select * from new_reply_empathy")
            conn.commit()
            log(f"Reply empathy: {min(start + BATCH_SIZE, len(todo))} of {len(todo)} replies labelled")
    by_context = dict(conn.execute(f"select context, count(*) from {REPLY_EMPATHY_TABLE} group by all").fetchall())
    return ReceptionSummary(len(todo), kept, removed, by_context, engines_sha256)


def _labelled_rows(
    batch: pl.DataFrame, engines: EmpathyEngines, cache: EmbeddingCache, engines_sha256: str
) -> pl.DataFrame:
    english = batch.filter(pl.col("in_english"))
    replies = english["text"].to_list()
    has_parent = english["parent_key"].is_not_null().to_numpy()
    reply_vectors = cache.embed(replies, english["reply_sha256"].to_list())
    parent_vectors = np.zeros_like(reply_vectors)
    if has_parent.any():
        parents = english.filter(pl.col("parent_key").is_not_null())
        parent_vectors[has_parent] = cache.embed(parents["parent_text"].to_list(), parents["parent_sha256"].to_list())
    empathy = engines.label(replies, reply_vectors, parent_vectors, has_parent)
    labelled = english.select("post_key", "parent_key", "reply_sha256", "parent_sha256").with_columns(
        context=pl.Series(empathy.context, dtype=pl.String),
        **{
            column: pl.Series(values)
            for m in MECHANISMS
            for column, values in (
                (f"empathy_{m}", empathy.levels[m].best.astype(str).tolist()),
                (f"empathy_{m}_confidence", empathy.levels[m].confidence.astype(float)),
                (f"empathy_{m}_is_uncertain", empathy.levels[m].uncertain.astype(bool)),
            )
        },
    )
    unsupported = batch.filter(~pl.col("in_english")).select(
        "post_key", "parent_key", "reply_sha256", "parent_sha256", context=pl.lit(NOT_ENGLISH)
    )
    return pl.concat([labelled, unsupported], how="diagonal").with_columns(
        engines_sha256=pl.lit(engines_sha256), labelled_at=pl.lit(datetime.now(UTC))
    )
