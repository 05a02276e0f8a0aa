"""The annotation store: people's labels on posts, which the engine trains on and is measured by.

`labels.annotations` holds one row per (post, dimension, annotator): the label, which sampling drew
the post (random rows stand for the warehouse's posts and are what error rates and prevalence use;
uncertainty-sampled rows only train; `external` rows come from a labelled file of posts that are not
in the warehouse, such as the gold set, and are kept with their text), the taxonomy version and when
it was imported. Every row keeps the (scrubbed) text that was annotated, so training never depends
on the post still being in the warehouse.

Export draws posts to annotate; import validates the whole file before it writes anything.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.metrics import cohen_kappa_score

from stigma_insights.assets.labels.datasets import read_table
from stigma_insights.assets.labels.taxonomy import Taxonomy
from stigma_insights.assets.privacy import pseudonym_key, pseudonymise_post_key, scrub_texts
from stigma_insights.assets.warehouse_tables import ANNOTATIONS_DDL, ANNOTATIONS_TABLE
from stigma_insights.registered import registered

RANDOM, UNCERTAIN_SAMPLING, EXTERNAL = "random", "uncertain", "external"
# Samplings whose posts stand for the population: held-out predictions on them give error rates.
REPRESENTATIVE = (RANDOM, EXTERNAL)
STRATEGIES = (RANDOM, UNCERTAIN_SAMPLING, "mixed")
EXTERNAL_PREFIX = "external"
LABELLABLE_POSTS = "status = 'available' and trim(coalesce(text, '')) <> ''"


class AnnotationImportError(ValueError):
    """The file cannot be imported; `problems` lists every bad row."""

    def __init__(self, source: str, problems: list[str]):
        self.problems = problems
        listed = "\n".join(f"  {p}" for p in problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"{source}: nothing imported, {len(problems)} problem(s):\n{listed}{more}")


def ensure_store(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(ANNOTATIONS_DDL)


# -- export --------------------------------------------------------------------------------------
def export_for_annotation(
    conn: duckdb.DuckDBPyConnection, taxonomy: Taxonomy, n: int, strategy: str, seed: int = 0
) -> pd.DataFrame:
    """Posts not yet annotated, with empty label columns: `random` draws uniformly from the labellable
    posts, `uncertain` takes those the engine was least sure of, `mixed` half and half."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}")
    ensure_store(conn)
    n_uncertain = {RANDOM: 0, UNCERTAIN_SAMPLING: n, "mixed": n // 2}[strategy]
    candidates = f"""
        select post_key, platform, community, text from intermediate.int_posts_deduplicated
        where {LABELLABLE_POSTS} and post_key not in (select post_key from {ANNOTATIONS_TABLE})"""
    first = taxonomy.dimensions[0].name
    uncertain = (
        conn.execute(
            f"""select c.*, '{UNCERTAIN_SAMPLING}' as sampling
            from ({candidates}) c join labels.post_labels l using (post_key)
            order by l.{first}_confidence, post_key limit ?""",
            [n_uncertain],
        ).df()
        if n_uncertain
        else pd.DataFrame()
    )
    random = conn.execute(
        f"""select *, '{RANDOM}' as sampling from ({candidates})
            where post_key not in (select unnest(?::varchar[]))
            order by hash(post_key, ?) limit ?""",
        [list(uncertain.get("post_key", [])), seed, n - len(uncertain)],
    ).df()
    frame = pd.concat([uncertain, random], ignore_index=True)
    # Annotators see the analysts' keyed pseudonym, never the platform id (it opens the post and its author).
    key = pseudonym_key()
    frame["post_key"] = [pseudonymise_post_key(post_key, key) for post_key in frame["post_key"]]
    for dimension in taxonomy.dimension_names:
        frame[dimension] = ""
    frame["annotator"] = ""
    return frame[["post_key", "sampling", "platform", "community", "text", *taxonomy.dimension_names, "annotator"]]


def write_table(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".parquet", ".pq"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)


# -- import --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImportSummary:
    rows_read: int
    rows_without_labels: int  # left blank by the annotator: reported, not imported
    added: int
    changed: int  # same post, dimension and annotator, another label: the new label replaces the old
    unchanged: int
    agreement: list[dict]  # Cohen's kappa per dimension and annotator pair on the posts both labelled


def import_annotations(
    conn: duckdb.DuckDBPyConnection,
    taxonomy: Taxonomy,
    path: Path,
    annotator: str | None = None,
    external: str | None = None,
) -> ImportSummary:
    """Validate every row, then store them all in one transaction (or none, with every problem listed).

    `external`: the file's posts are not in the warehouse (a labelled file such as the gold set):
    rows are keyed by its `id` column as external:<name>:<id> and keep its `text`; they train and,
    being annotated without regard to the engine, also measure it.
    """
    path = Path(path)
    ensure_store(conn)
    frame = read_table(path)
    rows, problems, blank = _validated_rows(conn, taxonomy, frame, annotator, external)
    if problems:
        raise AnnotationImportError(str(path), problems)
    new = pd.DataFrame(rows, columns=["post_key", "dimension", "label", "annotator", "sampling", "text"])
    new = new.assign(taxonomy_version=taxonomy.version, source_file=path.name, imported_at=datetime.now(UTC))
    conn.begin()
    try:
        with registered(conn, "new_annotations", new):
            [(added, changed, unchanged)] = conn.execute(
                f"""select count(*) filter (where a.label is null),
                           count(*) filter (where a.label <> n.label),
                           count(*) filter (where a.label = n.label)
                    from new_annotations n left join {ANNOTATIONS_TABLE} a using (post_key, dimension, annotator)"""
            ).fetchall()
            conn.execute(
                f"""merge into {ANNOTATIONS_TABLE} a
                    using new_annotations n
                    on a.post_key = n.post_key and a.dimension = n.dimension and a.annotator = n.annotator
                    when matched and a.label is distinct from n.label then update set
                        label = n.label, sampling = n.sampling, taxonomy_version = n.taxonomy_version,
                        text = n.text, source_file = n.source_file, imported_at = n.imported_at
                    when not matched then insert by name"""
            )
        conn.commit()
    except Exception:
        conn.rollback()
        raise
    return ImportSummary(len(frame), blank, added, changed, unchanged, agreement(conn, taxonomy))


def _validated_rows(conn, taxonomy: Taxonomy, frame: pd.DataFrame, annotator: str | None, external: str | None):
    """(post_key, dimension, label, annotator, sampling, text) rows, the problems, and blank rows."""
    problems: list[str] = []
    key_column = "id" if external else "post_key"
    required = [key_column] + (["text"] if external else [])
    dimensions = [d for d in taxonomy.dimensions if d.name in frame.columns]
    missing = [c for c in required if c not in frame.columns]
    if missing or not dimensions:
        wanted = missing or [f"one of {', '.join(taxonomy.dimension_names)}"]
        return [], [f"missing column(s): {', '.join(wanted)} (columns: {', '.join(frame.columns)})"], 0
    if not annotator and "annotator" not in frame.columns:
        return [], ["no annotator: give --annotator NAME or an `annotator` column"], 0
    frame = frame.fillna("").astype(str).apply(lambda column: column.str.strip())
    if not external:  # exported files carry pseudonymous keys; engineers may give the warehouse's own
        real_keys = _real_post_keys(conn)
        frame["post_key"] = [real_keys.get(k, k) for k in frame["post_key"]]
    texts = {} if external else _warehouse_texts(conn, frame["post_key"].tolist())
    if external:
        frame["text"] = scrub_texts(pa.array(frame["text"], pa.string())).to_pylist()
    rows, blank = [], 0
    seen: dict[tuple[str, str], tuple[str, dict[str, str]]] = {}
    for position, record in enumerate(frame.to_dict("records")):
        where = f"row {position + 2}"  # the header is line 1
        labels = {d.name: record[d.name] for d in dimensions if record[d.name]}
        if not labels:
            blank += 1
            continue
        key = record[key_column]
        if not key:
            problems.append(f"{where}: empty {key_column}")
            continue
        who = record.get("annotator") or annotator
        if not who:
            problems.append(f"{where}: no annotator")
            continue
        post_key = f"{EXTERNAL_PREFIX}:{external}:{key}" if external else key
        text = record["text"] if external else texts.get(key)
        if external and not text:
            problems.append(f"{where}: empty text")
        if not external and text is None:
            problems.append(f"{where}: unknown post key {key!r} (no labellable post with that key in the warehouse)")
        sampling = EXTERNAL if external else record.get("sampling", "")
        if sampling not in ((EXTERNAL,) if external else (RANDOM, UNCERTAIN_SAMPLING)):
            problems.append(f"{where}: sampling {sampling!r} is not random or uncertain")
        for dimension in dimensions:
            label = labels.get(dimension.name)
            if label and label not in dimension.class_names:
                problems.append(f"{where}: {dimension.name} {label!r} is not one of {', '.join(dimension.class_names)}")
            for other, required_label in dimension.applies_when:
                if label and labels.get(other) != required_label:
                    problems.append(
                        f"{where}: {dimension.name} given where {other} is "
                        f"{labels.get(other) or 'empty'} (it applies only where {other} is {required_label})"
                    )
        if seen.setdefault((post_key, who), (where, labels))[1] != labels:
            problems.append(f"{where}: {key_column} {key!r} labelled differently on {seen[(post_key, who)][0]}")
        rows += [(post_key, name, label, who, sampling, text) for name, label in labels.items()]
    unique_rows = list(dict.fromkeys(rows))  # the same row twice in one file is one annotation
    return unique_rows, problems, blank


def _real_post_keys(conn) -> dict[str, str]:
    """The warehouse key of each labellable post's pseudonym (as `annotate export` writes them)."""
    key = pseudonym_key()
    keys = conn.execute(f"select post_key from intermediate.int_posts_deduplicated where {LABELLABLE_POSTS}").fetchall()
    return {str(pseudonymise_post_key(post_key, key)): post_key for (post_key,) in keys}


def _warehouse_texts(conn, post_keys: list[str]) -> dict[str, str]:
    with registered(conn, "wanted_posts", pd.DataFrame({"post_key": post_keys})):
        return dict(
            conn.execute(
                f"""select post_key, text from intermediate.int_posts_deduplicated
                where {LABELLABLE_POSTS} and post_key in (select post_key from wanted_posts)"""
            ).fetchall()
        )


# -- agreement and training ------------------------------------------------------------------------
def agreement(conn: duckdb.DuckDBPyConnection, taxonomy: Taxonomy, min_posts: int = 2) -> list[dict]:
    """Cohen's kappa per dimension for every pair of annotators who labelled the same posts."""
    frame = conn.execute(
        f"""select a.dimension, a.annotator as annotator_a, b.annotator as annotator_b, a.label as label_a,
                   b.label as label_b
            from {ANNOTATIONS_TABLE} a join {ANNOTATIONS_TABLE} b
              on a.post_key = b.post_key and a.dimension = b.dimension and a.annotator < b.annotator"""
    ).df()
    result = []
    for (dimension, a, b), pair in frame.groupby(["dimension", "annotator_a", "annotator_b"]):
        if len(pair) >= min_posts:
            kappa = cohen_kappa_score(pair["label_a"], pair["label_b"])
            result.append(
                {
                    "dimension": dimension,
                    "annotators": f"{a} / {b}",
                    "posts": len(pair),
                    "agreement": float((pair["label_a"] == pair["label_b"]).mean()),
                    "kappa": None if np.isnan(kappa) else float(kappa),
                }
            )
    order = {name: i for i, name in enumerate(taxonomy.dimension_names)}
    return sorted(result, key=lambda r: (order.get(r["dimension"], len(order)), r["annotators"]))


@dataclass(frozen=True)
class AnnotatedTexts:
    texts: list[str]
    labels: list[str]
    representative: list[bool]  # drawn at random or from an external labelled file: measures the engine


def annotated_texts(conn: duckdb.DuckDBPyConnection, dimension: str) -> AnnotatedTexts:
    """One label per annotated post: the annotators' majority (ties: the latest import)."""
    ensure_store(conn)
    rows = conn.execute(
        f"""with votes as (
                select post_key, label, count(*) as votes, max(imported_at) as latest,
                       bool_or(sampling in {REPRESENTATIVE}) as representative, any_value(text) as text
                from {ANNOTATIONS_TABLE} where dimension = ? group by all)
            select text, label, representative from votes
            qualify row_number() over (partition by post_key order by votes desc, latest desc, label) = 1
            order by post_key""",
        [dimension],
    ).fetchall()
    return AnnotatedTexts([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])


def annotation_counts(conn: duckdb.DuckDBPyConnection) -> dict:
    ensure_store(conn)
    by_dimension = conn.execute(
        f"select dimension, sampling, count(distinct post_key) from {ANNOTATIONS_TABLE} group by all order by all"
    ).fetchall()
    counts: dict = {}
    for dimension, sampling, n in by_dimension:
        counts.setdefault(dimension, Counter())[sampling] = n
    return {dimension: dict(c) for dimension, c in counts.items()}
