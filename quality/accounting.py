"""Blocking checks that every landed record is accounted for in each raw load."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from stigma_insights.assets.ingest.formats import SOURCE_FORMATS, SourceFormat
from stigma_insights.resources import WAREHOUSE_POOL

ACCOUNTING_SQL = """
    select
        count(*) filter (where records_read <> records_loaded + records_rejected + records_duplicate)
            as unbalanced_loads,
        coalesce(sum(records_loaded), 0) as logged_loaded,
        (select count(*) from {table}) as stored,
        coalesce(sum(records_read), 0) as records_read,
        coalesce(sum(records_rejected), 0) as records_rejected,
        coalesce(sum(records_duplicate), 0) as records_duplicate
    from raw.load_log
    where source_format = ?
"""


def build_accounting_check(source: SourceFormat) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(["raw", source.name]),
        name="records_accounted_for",
        blocking=True,
        description="Every load: records read = loaded + rejected + duplicate, and the raw table holds "
        "exactly the records the ledger says were loaded.",
        pool=WAREHOUSE_POOL,
    )
    def accounting_check(warehouse_reader: DuckDBResource) -> dg.AssetCheckResult:
        with warehouse_reader.get_connection() as conn:
            row = conn.execute(ACCOUNTING_SQL.format(table=source.raw_table), [source.name]).fetchone()
        unbalanced, logged_loaded, stored, read, rejected, duplicate = row
        return dg.AssetCheckResult(
            passed=unbalanced == 0 and logged_loaded == stored,
            metadata={
                "unbalanced_loads": unbalanced,
                "records_read": read,
                "records_loaded_per_ledger": logged_loaded,
                "records_in_raw_table": stored,
                "records_rejected": rejected,
                "records_duplicate": duplicate,
            },
        )

    return accounting_check


def accounting_checks() -> list[dg.AssetChecksDefinition]:
    return [build_accounting_check(source) for source in SOURCE_FORMATS.values()]
