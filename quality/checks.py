"""Blocking Dagster asset checks that run great-expectations suites on warehouse tables."""

from collections.abc import Callable, Iterator

import dagster as dg
import duckdb
import pandas as pd
from dagster_duckdb import DuckDBResource

from stigma_insights.quality.suites import MAX_FAILING_KEYS, TableSuites, suite_version, validate
from stigma_insights.resources import WAREHOUSE_POOL

EXPECTATION_COLUMNS = dg.TableSchema(
    columns=[
        dg.TableColumn("expectation", "string"),
        dg.TableColumn("column", "string"),
        dg.TableColumn("passed", "bool"),
        dg.TableColumn("unexpected_count", "int"),
        dg.TableColumn("failing_keys", "string", "Keys of the first failing rows."),
    ]
)


# How far back a check looks for its last passing evaluation; beyond, it validates the whole table again.
PASSING_LOOKBACK = 50


def last_passing_validation(context: dg.AssetCheckExecutionContext) -> dict[str, str]:
    """The metadata that says what the check's last passing evaluation validated (empty: none found)."""
    (check_key,) = context.selected_asset_check_keys
    for record in context.instance.event_log_storage.get_asset_check_execution_history(
        check_key, limit=PASSING_LOOKBACK
    ):
        event = record.event.dagster_event if record.event else None
        evaluation = event.event_specific_data if event else None
        if isinstance(evaluation, dg.AssetCheckEvaluation) and evaluation.passed:
            metadata = evaluation.metadata
            return {
                name: str(metadata[name].value) for name in ("validated_through", "suite_version") if name in metadata
            }
    return {}


# Rows validated at once (DuckDB hands them over in vectors of 2,048): a first run over a million posts
# held them all in pandas at once (4.7 GB), now a part at a time.
ROWS_PER_FRAME = 50 * 2048


def frames_of(result: duckdb.DuckDBPyConnection) -> Iterator[pd.DataFrame]:
    """A query's rows as data frames of up to ROWS_PER_FRAME rows; one empty frame when there are none."""
    frame = result.fetch_df_chunk(ROWS_PER_FRAME // 2048)
    yield frame
    while len(frame := result.fetch_df_chunk(ROWS_PER_FRAME // 2048)):
        yield frame


def build_gx_check(asset_key: dg.AssetKey, build_suites: Callable[[], TableSuites]) -> dg.AssetChecksDefinition:
    """A blocking check: when it fails, assets downstream of `asset_key` are not materialised.

    It validates the rows written since its last passing evaluation (all of them the first time, after a
    failure's rows are fixed, or when the suite changed) and the whole table's profile. Its metadata lists
    every expectation with its outcome and, for failures, the keys of the failing rows."""
    table = build_suites().table

    @dg.asset_check(
        asset=asset_key,
        name=f"gx_{table.split('.')[-1]}",
        blocking=True,
        description=f"Great-expectations suites on {table} (rows written since the last pass, and whole-table"
        " aggregates); blocks everything downstream on failure.",
        pool=WAREHOUSE_POOL,
    )
    def gx_check(context: dg.AssetCheckExecutionContext, warehouse_reader: DuckDBResource) -> dg.AssetCheckResult:
        suites = build_suites()
        version = suite_version(suites.row_suite)
        last = last_passing_validation(context)
        since = last.get("validated_through") if last.get("suite_version") == version else None
        written = suites.written_column
        with warehouse_reader.get_connection() as conn:
            changed = f"{written} is null or {written} > ?::timestamptz" if since else "true"
            (validated_through,) = conn.execute(f"select max({written}) from {suites.table}").fetchone()
            rows = conn.execute(f"select * from {suites.table} where {changed}", [since] if since else [])
            row_outcome = validate(frames_of(rows), suites.row_suite, suites.key_column)
            profile = conn.sql(suites.profile_sql).df()
            profile_outcome = validate(profile, suites.profile_suite)
            for result in profile_outcome.failed:
                if query := suites.failing_keys_sql.get(result["column"]):
                    keys = conn.execute(f"{query} limit {MAX_FAILING_KEYS}").fetchall()
                    result["failing_keys"] = [str(key) for (key,) in keys]
        results = row_outcome.results + profile_outcome.results
        failed = [result for result in results if not result["success"]]
        return dg.AssetCheckResult(
            passed=not failed,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "rows": int(profile["row_count"].iloc[0]) if "row_count" in profile else row_outcome.row_count,
                "rows_validated": row_outcome.row_count,
                "validated_since": since or "the whole table",
                "validated_through": str(validated_through) if validated_through else "",
                "suite_version": version,
                "expectations_evaluated": len(results),
                "expectations_failed": len(failed),
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
                        for r in results
                    ],
                    schema=EXPECTATION_COLUMNS,
                ),
                "failures": dg.MetadataValue.json(failed),
            },
        )

    return gx_check
