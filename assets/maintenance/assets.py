"""The Dagster asset that keeps the warehouse's storage in shape, last in each run."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from stigma_insights.assets.maintenance.storage import maintain_file, maintain_lake
from stigma_insights.assets.publish.assets import ANALYST_MARTS
from stigma_insights.resources import WAREHOUSE_POOL
from stigma_insights.settings import LakeSettings

WAREHOUSE_STORAGE = dg.AssetKey(["maintenance", "warehouse_storage"])


def build_warehouse_storage(lake: LakeSettings | None) -> dg.AssetsDefinition:
    """On a lake: DuckLake's maintenance with the lake's retention; on the DuckDB file: a checkpoint."""

    @dg.asset(
        key=WAREHOUSE_STORAGE,
        deps=[ANALYST_MARTS],
        group_name="maintenance",
        kinds={"ducklake" if lake else "duckdb"},
        pool=WAREHOUSE_POOL,
        description="After the marts are published: on a DuckLake, inlined rows flushed, snapshots and"
        " unreferenced files older than the retention removed and small Parquet files merged; on the DuckDB"
        " file, a checkpoint. Metadata: the storage's footprint before and after.",
    )
    def warehouse_storage(duckdb: DuckDBResource) -> dg.MaterializeResult:
        with duckdb.get_connection() as conn:
            footprint = maintain_lake(conn, lake.retention) if lake else maintain_file(conn)
        metadata: dict[str, dg.MetadataValue] = {
            f"{name}_{when}": dg.MetadataValue.int(value)
            for when, counts in footprint.items()
            for name, value in counts.items()
        }
        if lake:
            metadata["retention"] = dg.MetadataValue.text(lake.retention)
        return dg.MaterializeResult(metadata=metadata)

    return warehouse_storage
