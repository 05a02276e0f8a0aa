"""One Dagster asset per source format: landed files -> raw.<format> (+ raw.rejects, raw.load_log)."""

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from stigma_insights.assets.collect.assets import collected_into
from stigma_insights.assets.ingest.formats import SOURCE_FORMATS, SourceFormat
from stigma_insights.assets.ingest.loader import load_landing_folder, rejects_by_file, unplaced_files
from stigma_insights.resources import WAREHOUSE_POOL, ProjectFiles


def _raw_asset(source: SourceFormat) -> dg.AssetsDefinition:
    @dg.asset(
        key=["raw", source.name],
        group_name="raw",
        kinds={"duckdb"},
        pool=WAREHOUSE_POOL,
        description=f"{source.description} Landing folder: <landing>/{source.name}/.",
        # Files a collector fetched tonight are loaded tonight; a backfill's days, by the next run.
        deps=collected_into(source.name),
    )
    def _asset(
        context: dg.AssetExecutionContext, duckdb: DuckDBResource, project_files: ProjectFiles
    ) -> dg.MaterializeResult:
        folder = Path(project_files.landing_folder) / source.name
        with duckdb.get_connection() as conn:
            results = load_landing_folder(conn, source, folder)
            (rows,) = conn.execute(f"select count(*) from {source.raw_table}").fetchone()
            loaded = [r for r in results if r.status == "loaded"]
            rejects = rejects_by_file(conn, source, [r.source_file for r in loaded if r.records_rejected])
        skipped = unplaced_files(source, folder)
        for result in results:
            if result.status == "refused":
                context.log.warning(f"Refused {result.source_file}: {result.refusal_reason}")
        for path, why in skipped.items():
            context.log.warning(f"Skipped {path}: {why}")
        for path, reasons in rejects.items():
            context.log.warning(f"Rejected records of {path} (rows of raw.rejects): {reasons}")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": rows,
                "landing_folder": str(folder),
                "files_loaded": len(loaded),
                "files_already_loaded": sum(r.status == "already_loaded" for r in results),
                "files_refused": dg.MetadataValue.json(
                    {r.source_file: r.refusal_reason for r in results if r.status == "refused"}
                ),
                "files_skipped": dg.MetadataValue.json(skipped),
                "rejects_by_file": dg.MetadataValue.json(rejects),
                "records_read": sum(r.records_read for r in loaded),
                "records_loaded": sum(r.records_loaded for r in loaded),
                "records_rejected": sum(r.records_rejected for r in loaded),
                "records_duplicate": sum(r.records_duplicate for r in loaded),
            }
        )

    return _asset


def raw_assets() -> list[dg.AssetsDefinition]:
    return [_raw_asset(source) for source in SOURCE_FORMATS.values()]
