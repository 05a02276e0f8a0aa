"""Collection assets: fetch what is new from each API into its landing folder, before the raw loads.

A source is collected when the collection file turns it on (`nightly: true`) and its credentials are
set; otherwise the asset says why it collected nothing (metadata and a warning) and the run goes on
with the files already landed.
"""

from pathlib import Path

import dagster as dg

from stigma_insights.assets.collect.collectors import COLLECTED_FORMATS, build_collector
from stigma_insights.assets.collect.config import load_collection
from stigma_insights.resources import WAREHOUSE_POOL, CollectorApi, ProjectFiles

RESOURCE_OF_SOURCE = {"reddit": "reddit_api", "arctic-shift": "arctic_shift_api", "tiktok": "tiktok_api"}


def collect_key(landing_format: str) -> dg.AssetKey:
    return dg.AssetKey(["collect", landing_format])


def _collection_asset(source: str) -> dg.AssetsDefinition:
    landing_format = COLLECTED_FORMATS[source]

    @dg.asset(
        key=collect_key(landing_format),
        group_name="collect",
        kinds={"python"},
        pool=WAREHOUSE_POOL,  # the collector's state is in the warehouse
        required_resource_keys={RESOURCE_OF_SOURCE[source], "project_files", "duckdb"},
        description=f"New pages from {source} into <landing>/{landing_format}/ (assets/collect/collection.yaml).",
    )
    def _asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        api: CollectorApi = getattr(context.resources, RESOURCE_OF_SOURCE[source])
        files: ProjectFiles = context.resources.project_files
        collection = load_collection(Path(files.collection_file))
        reason = (
            f"{source} is not collected nightly (nightly: false in {files.collection_file})"
            if source not in collection.nightly
            else f"{', '.join(api.missing)} not set"
            if api.missing
            else ""
        )
        if reason:
            context.log.warning(f"Collected nothing: {reason}")
            return dg.MaterializeResult(metadata={"collected": False, "reason": reason})
        run_collector, client = build_collector(
            source, api, collection, Path(context.resources.duckdb.database), Path(files.landing_folder)
        )
        summary = run_collector()
        return dg.MaterializeResult(
            metadata={
                "collected": True,
                "pages": summary.pages,
                "records": summary.records,
                "requests": client.requests_sent,
                "stopped_early": summary.stopped,
                "malformed_pages": dg.MetadataValue.json(summary.malformed),
                "collection_version": collection.version,
            }
        )

    return _asset


def collection_assets() -> list[dg.AssetsDefinition]:
    return [_collection_asset(source) for source in COLLECTED_FORMATS]
