"""The Dagster themes asset: themes of the stigma-related posts per stigma domain, after the labels."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from stigma_insights.assets.themes.store import theme_posts
from stigma_insights.resources import WAREHOUSE_POOL

POST_LABELS = dg.AssetKey(["labels", "post_labels"])


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["labels", "themes"],
            deps=[POST_LABELS],
            description="Themes among the stigma-related posts of each stigma domain (clusters of their cached "
            "embeddings): size, keywords (class-based TF-IDF) and centroid; ids stay across runs where a theme "
            "did not change. assets/themes/themes.py.",
        ),
        dg.AssetSpec(
            ["labels", "post_themes"],
            deps=[POST_LABELS],
            description="The theme of each stigma-related post (-1: in no theme, counted as an outlier).",
        ),
    ],
    name="themes",
    group_name="labels",
    pool=WAREHOUSE_POOL,
)
def themes(context: dg.AssetExecutionContext, duckdb: DuckDBResource):
    with duckdb.get_connection() as conn:
        summary = theme_posts(conn)
    context.log.info(
        f"{summary.themes} themes over {summary.posts} stigma-related posts; {summary.outliers} in no theme;"
        f" {summary.changed} posts changed theme"
    )
    yield dg.MaterializeResult(
        asset_key=["labels", "themes"],
        metadata={"dagster/row_count": summary.themes, "by_domain": dg.MetadataValue.json(summary.by_domain)},
    )
    yield dg.MaterializeResult(
        asset_key=["labels", "post_themes"],
        metadata={
            "dagster/row_count": summary.posts,
            "outliers": summary.outliers,
            "outlier_share": round(summary.outliers / summary.posts, 4) if summary.posts else 0.0,
            "changed_theme": summary.changed,
        },
    )
