"""Blocking Dagster asset checks that run great-expectations suites on warehouse tables."""

from collections.abc import Callable
from typing import TYPE_CHECKING

import dagster as dg
from dagster_duckdb import DuckDBResource

from stigma_insights.quality.suites import validate
from stigma_insights.resources import WAREHOUSE_POOL

if TYPE_CHECKING:
    import great_expectations as gx


EXPECTATION_COLUMNS = dg.TableSchema(
    columns=[
        dg.TableColumn("expectation", "string"),
        dg.TableColumn("column", "string"),
        dg.TableColumn("passed", "bool"),
        dg.TableColumn("unexpected_count", "int"),
        dg.TableColumn("failing_keys", "string", "Keys of the first failing rows."),
    ]
)


def build_gx_check(
    asset_key: dg.AssetKey, table: str, build_suite: Callable[[], "gx.ExpectationSuite"], key_column: str
) -> dg.AssetChecksDefinition:
    """A blocking check: when it fails, assets downstream of `asset_key` are not materialised. Its metadata
    lists every expectation with its outcome and, for failures, the `key_column` of the failing rows."""

    @dg.asset_check(
        asset=asset_key,
        name=f"gx_{table.split('.')[-1]}",
        blocking=True,
        description=f"Great-expectations suite on {table}; blocks everything downstream on failure.",
        pool=WAREHOUSE_POOL,
    )
    def gx_check(warehouse_reader: DuckDBResource) -> dg.AssetCheckResult:
        with warehouse_reader.get_connection() as conn:
            frame = conn.sql(f"select * from {table}").df()
        outcome = validate(frame, build_suite, key_column)
        return dg.AssetCheckResult(
            passed=outcome.success,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "rows": outcome.row_count,
                "expectations_evaluated": len(outcome.results),
                "expectations_failed": len(outcome.failed),
                "expectations": dg.MetadataValue.table(
                    [
                        dg.TableRecord(
                            {
                                "expectation": r["expectation"],
                                "column": r["column"] or "",
                                "passed": r["success"],
                                "unexpected_count": r["unexpected_count"] or 0,
                                "failing_keys": ", ".join(r["failing_keys"]),
                            }
                        )
                        for r in outcome.results
                    ],
                    schema=EXPECTATION_COLUMNS,
                ),
                "failures": dg.MetadataValue.json(outcome.failed),
            },
        )

    return gx_check
