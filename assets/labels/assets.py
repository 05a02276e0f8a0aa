"""The Dagster label assets: the annotation store, then labels for every labellable post, incrementally."""

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource
from dagster_ray import RayResource

from stigma_insights.assets.labels.annotations import annotation_counts, ensure_store, import_annotations
from stigma_insights.assets.labels.embedding import MiniLM
from stigma_insights.assets.labels.embedding_cache import seed_from_starter_vectors
from stigma_insights.assets.labels.empathy import MECHANISMS, SHIPPED_ENGINES
from stigma_insights.assets.labels.reception import label_new_replies
from stigma_insights.assets.labels.store import POST_LABELS_TABLE, label_new_posts
from stigma_insights.assets.labels.taxonomy import load_taxonomy
from stigma_insights.assets.warehouse_tables import REPLY_EMPATHY_TABLE
from stigma_insights.resources import WAREHOUSE_POOL, Embedding, ProjectFiles

POSTS = dg.AssetKey(["intermediate", "int_posts_deduplicated"])
ANNOTATIONS = dg.AssetKey(["labels", "annotations"])
POST_LABELS = dg.AssetKey(["labels", "post_labels"])


@dg.asset(
    key=ANNOTATIONS,
    group_name="labels",
    pool=WAREHOUSE_POOL,
    description="People's labels on posts (labels.annotations): the starter set of annotated real posts in "
    "data/annotations/ plus what researchers import with `stigma-insights annotate import`. The engines train "
    "on them and are measured by them. The starter texts' shipped vectors seed the embedding cache.",
)
def annotations(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource, project_files: ProjectFiles
) -> dg.MaterializeResult:
    taxonomy = load_taxonomy()
    with duckdb.get_connection() as conn:
        ensure_store(conn)
        for path in sorted(Path(project_files.starter_annotations_folder).glob("*.csv")):
            summary = import_annotations(conn, taxonomy, path, annotator=f"starter:{path.stem}", external=path.stem)
            context.log.info(
                f"Starter annotations {path.name}: {summary.added} added, {summary.changed} changed,"
                f" {summary.unchanged} already there"
            )
        seeded = seed_from_starter_vectors(conn, Path(project_files.starter_annotations_folder) / "vectors")
        context.log.info(f"Starter vectors: {seeded} added to the embedding cache")
        counts = annotation_counts(conn)
        (rows,) = conn.execute("select count(*) from labels.annotations").fetchone()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "annotated_posts_by_dimension_and_sampling": dg.MetadataValue.json(counts),
            "starter_vectors_added": seeded,
        }
    )


class LabelsConfig(dg.Config):
    relabel_all: bool = False  # label every post again (embeddings still come from the cache)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["labels", "post_labels"],
            deps=[POSTS, ANNOTATIONS],
            description="Relevance, stigma domain and intent for each post: label, calibrated confidence "
            "and uncertain flag, from engines trained on the taxonomy and the annotations. Incremental: "
            "only posts with new text, model, training set or taxonomy are labelled; embeddings are cached.",
        ),
        dg.AssetSpec(
            ["labels", "label_error_rates"],
            deps=[POSTS, ANNOTATIONS],
            description="Per dimension, the engines' confusion counts cross-fitted on the annotations: "
            "used to adjust shares and their intervals.",
        ),
        dg.AssetSpec(
            ["labels", "label_classes"],
            description="The taxonomy file as a table: the label columns, valid labels and gated populations "
            "that the dbt marts follow.",
        ),
    ],
    name="labels",
    group_name="labels",
    pool=WAREHOUSE_POOL,
)
def labels(
    context: dg.AssetExecutionContext,
    config: LabelsConfig,
    duckdb: DuckDBResource,
    project_files: ProjectFiles,
    ray: RayResource,
    embedding: Embedding,
):
    taxonomy = load_taxonomy()
    minilm = MiniLM(embedding.settings())
    if minilm.settings.labels_engine == "ray" and not ray.connected:
        ray.connect(context)  # the resource owns the connection: it ends with the run
    with duckdb.get_connection() as conn:
        summary = label_new_posts(
            conn,
            taxonomy,
            Path(project_files.engines_folder),
            minilm,
            relabel_all=config.relabel_all,
            log=context.log.info,
        )
        (rows,) = conn.execute(f"select count(*) from {POST_LABELS_TABLE}").fetchone()
        counts = {
            dimension.name: dict(
                conn.execute(
                    f"select {dimension.name}, count(*) from {POST_LABELS_TABLE} where {dimension.name} is not null"
                    f" group by all order by 1"
                ).fetchall()
            )
            for dimension in taxonomy.dimensions
        }
        uncertain = {
            dimension.name: conn.execute(
                f"select avg({dimension.name}_is_uncertain::int) from {POST_LABELS_TABLE}"
            ).fetchone()[0]
            for dimension in taxonomy.dimensions
        }
    provenance = {"model_name": summary.model_id, "taxonomy_version": taxonomy.version}
    # Held-out macro-F1 of each engine on the annotated posts it is measured by (see engine.py).
    held_out = {name: engine.calibration for name, engine in summary.engines.items()}
    yield dg.MaterializeResult(
        asset_key=["labels", "post_labels"],
        metadata={
            "dagster/row_count": rows,
            **provenance,
            "engine_from_artifact": summary.engine_reused,
            **{f"cv_macro_f1_{name}": round(c.held_out_macro_f1, 4) for name, c in held_out.items()},
            **{f"cv_items_{name}": c.scored for name, c in held_out.items()},
            "blend_weights": dg.MetadataValue.json({name: c.weights for name, c in held_out.items()}),
            "labelled_this_run": summary.labelled,
            "labelled_this_run_by_model": dg.MetadataValue.json(summary.labelled_by_route),
            "kept_from_earlier_runs": summary.kept,
            "removed_stale": summary.removed,
            "embeddings_computed": summary.embeddings_computed,
            "embeddings_from_cache": summary.embeddings_from_cache,
            "label_counts": dg.MetadataValue.json(counts),
            "uncertain_share": dg.MetadataValue.json(uncertain),
        },
    )
    yield dg.MaterializeResult(asset_key=["labels", "label_error_rates"], metadata=provenance)
    yield dg.MaterializeResult(asset_key=["labels", "label_classes"], metadata=provenance)


@dg.asset(
    key=["labels", "reply_empathy"],
    deps=[POSTS, POST_LABELS],
    group_name="labels",
    pool=WAREHOUSE_POOL,
    description="How each reply receives what it answers: EPITOME's empathy mechanisms (emotional reactions, "
    "interpretations, explorations), none / weak / strong, read with the parent post or comment (or alone "
    "when it is missing), by engines trained on EPITOME and shipped as JSON (assets/labels/empathy.py). "
    "Incremental: only replies whose text, parent or engines changed.",
)
def reply_empathy(
    context: dg.AssetExecutionContext, config: LabelsConfig, duckdb: DuckDBResource, embedding: Embedding
) -> dg.MaterializeResult:
    minilm = MiniLM(embedding.settings())
    with duckdb.get_connection() as conn:
        summary = label_new_replies(conn, SHIPPED_ENGINES, minilm, relabel_all=config.relabel_all, log=context.log.info)
        levels = {
            mechanism: dict(
                conn.execute(
                    f"select empathy_{mechanism}, count(*) from {REPLY_EMPATHY_TABLE}"
                    f" where empathy_{mechanism} is not null group by all order by 1"
                ).fetchall()
            )
            for mechanism in MECHANISMS
        }
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": sum(summary.by_context.values()),
            "labelled_this_run": summary.labelled,
            "kept_from_earlier_runs": summary.kept,
            "removed_stale": summary.removed,
            "replies_by_context": dg.MetadataValue.json(summary.by_context),
            "levels": dg.MetadataValue.json(levels),
            "engines_sha256": summary.engines_sha256,
        }
    )
