"""Collection assets: fetch from each API into its landing folder, before the raw loads.

- `collect/<format>`: what is new since the last run, in the nightly job. A source is collected when
  the collection file turns it on (`nightly: true`) and its credentials are set; otherwise the asset
  says why it collected nothing and the run goes on with the files already landed. A request that
  fails for good fails the asset's check `collected_without_error` (a warning: the run still ingests
  the pages fetched before it, and the next run resumes at that request).
- `collect_history/<format>`: one UTC day per partition, for backfills (Arctic Shift history, TikTok
  date windows). A day is materialised only once collected whole; a spent quota fails the day without
  sending a request, and it is run again after 00:00 UTC.

Each API is its own Dagster pool (limit 1, dagster_home/dagster.yaml), so the nightly asset and a
backfill's partitions never call the same API at once, and collecting never waits for the warehouse.
"""

from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from stigma_insights.assets.collect.collectors import COLLECTED_FORMATS, Summary, build_collector
from stigma_insights.assets.collect.config import Collection, load_collection
from stigma_insights.assets.collect.http import ApiClient
from stigma_insights.resources import CollectorApi, ProjectFiles

RESOURCE_OF_SOURCE = {"reddit": "reddit_api", "arctic-shift": "arctic_shift_api", "tiktok": "tiktok_api"}
POOL_OF_SOURCE = {"reddit": "reddit_api", "arctic-shift": "arctic_shift_api", "tiktok": "tiktok_research_api"}
# Sources whose natural unit is a day: their history assets are daily partitions from the configured start.
HISTORY_START = {"arctic-shift": lambda c: c.arctic_shift_after, "tiktok": lambda c: c.tiktok_start}
COMPLETE_CHECK = "collected_without_error"


def collect_key(landing_format: str) -> dg.AssetKey:
    return dg.AssetKey(["collect", landing_format])


def history_key(landing_format: str) -> dg.AssetKey:
    return dg.AssetKey(["collect_history", landing_format])


def collected_into(landing_format: str) -> list[dg.AssetKey]:
    """The collection assets that land pages in this format's folder (none for formats dropped by hand)."""
    sources = {source for source, collected in COLLECTED_FORMATS.items() if collected == landing_format}
    return ([collect_key(landing_format)] if sources else []) + (
        [history_key(landing_format)] if sources & HISTORY_START.keys() else []
    )


def _summary_metadata(summary: Summary, client: ApiClient, collection: Collection) -> dict:
    return {
        "pages": summary.pages,
        "records": summary.records,
        "requests": client.requests_sent,
        "stopped_early": summary.stopped,
        "failed": summary.failed,
        "malformed_pages": dg.MetadataValue.json(summary.malformed),
        "collection_version": collection.version,
    }


def _collector(context: dg.AssetExecutionContext, source: str, collection: Collection, **window):
    api: CollectorApi = getattr(context.resources, RESOURCE_OF_SOURCE[source])
    files: ProjectFiles = context.resources.project_files
    return build_collector(source, api, collection, Path(files.warehouse_file), Path(files.landing_folder), **window)


def _collection_asset(source: str) -> dg.AssetsDefinition:
    key = collect_key(COLLECTED_FORMATS[source])

    @dg.asset(
        key=key,
        group_name="collect",
        kinds={"python"},
        pool=POOL_OF_SOURCE[source],
        required_resource_keys={RESOURCE_OF_SOURCE[source], "project_files", "duckdb"},
        check_specs=[
            dg.AssetCheckSpec(
                COMPLETE_CHECK, asset=key, description="Every request of the run succeeded (or the source was off)."
            )
        ],
        description=f"New pages from {source} into <landing>/{key.path[-1]}/ (assets/collect/collection.yaml).",
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
            return dg.MaterializeResult(
                metadata={"collected": False, "reason": reason},
                check_results=[
                    dg.AssetCheckResult(check_name=COMPLETE_CHECK, passed=True, metadata={"reason": reason})
                ],
            )
        run_collector, client = _collector(context, source, collection)
        summary = run_collector()
        if summary.failed:
            context.log.error(summary.line(client))
        return dg.MaterializeResult(
            metadata={"collected": True, **_summary_metadata(summary, client, collection)},
            check_results=[
                dg.AssetCheckResult(
                    check_name=COMPLETE_CHECK,
                    passed=not summary.failed,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={"failed": summary.failed},
                )
            ],
        )

    return _asset


def _history_asset(source: str, collection: Collection) -> dg.AssetsDefinition:
    landing_format = COLLECTED_FORMATS[source]

    @dg.asset(
        key=history_key(landing_format),
        group_name="collect_history",
        kinds={"python"},
        pool=POOL_OF_SOURCE[source],
        partitions_def=dg.DailyPartitionsDefinition(start_date=HISTORY_START[source](collection).isoformat()),
        required_resource_keys={RESOURCE_OF_SOURCE[source], "project_files", "duckdb"},
        description=f"One UTC day from {source} into <landing>/{landing_format}/, for backfills: every configured"
        " query of that day, comments as configured. Resumes within the day where a failed run stopped.",
    )
    def _asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        api: CollectorApi = getattr(context.resources, RESOURCE_OF_SOURCE[source])
        if api.missing:
            raise dg.Failure(f"{', '.join(api.missing)} not set: the {source} history cannot be collected")
        collection = load_collection(Path(context.resources.project_files.collection_file))
        day = date.fromisoformat(context.partition_key)
        if source == "tiktok":
            run_collector, client = _collector(context, source, collection)
            summary = run_collector(start=day, end=day)
        else:
            run_collector, client = _collector(context, source, collection, after=day, before=day + timedelta(days=1))
            summary = run_collector()
        metadata = _summary_metadata(summary, client, collection)
        if summary.stopped or summary.failed:  # the day is not whole: not materialised, run it again
            raise dg.Failure(description=summary.line(client), metadata=metadata, allow_retries=False)
        return dg.MaterializeResult(metadata=metadata)

    return _asset


def collection_assets(collection: Collection) -> list[dg.AssetsDefinition]:
    return [_collection_asset(source) for source in COLLECTED_FORMATS] + [
        _history_asset(source, collection) for source in HISTORY_START
    ]


def backfill_jobs() -> list:
    """A job per history asset, so a backfill can also be started from the command line
    (`dagster job backfill -j backfill_tiktok_research --from 2026-10-01 --to 2026-10-31`)."""
    return [
        dg.define_asset_job(
            f"backfill_{COLLECTED_FORMATS[source]}",
            selection=[history_key(COLLECTED_FORMATS[source])],
            description=f"Collect {source} day by day; one run per day, one at a time (the API's pool).",
            executor_def=dg.in_process_executor,
        )
        for source in HISTORY_START
    ]
