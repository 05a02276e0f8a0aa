"""Great-expectations 1.x suites for the tables that feed the aggregate marts.

GX validates pandas frames read from DuckDB: its SQL datasource over duckdb_engine returns no
rows (docs/stack.md, trap 2). A table is validated in two parts (`TableSuites`): the rows written
since the last passing validation, row by row, and the whole table through a one-row profile of
aggregates computed in DuckDB, so a nightly run never reads the whole table into pandas. Suites are
built from the taxonomy, so label checks follow the taxonomy.
"""

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from stigma_insights.assets.labels.annotations import LABELLABLE_POSTS
from stigma_insights.assets.labels.empathy import LEVELS, MECHANISMS
from stigma_insights.assets.labels.taxonomy import Taxonomy

if TYPE_CHECKING:
    import great_expectations as gx

# Share of labellable posts (available, with text) that must carry a relevance label.
MIN_LABEL_COVERAGE = 0.95


# Failing rows named per failed expectation, by their key (the first ones GX reports).
MAX_FAILING_KEYS = 20


@dataclass(frozen=True)
class SuiteOutcome:
    success: bool
    results: list[dict]  # one per expectation: what it expects, of which column, passed, failing rows' keys
    row_count: int

    @property
    def failed(self) -> list[dict]:
        return [result for result in self.results if not result["success"]]


@dataclass(frozen=True)
class TableSuites:
    """What a check validates of one table, so that a nightly run reads what changed, not the table:
    `row_suite` on each row written after the last passing validation (`written_column`: when the
    row was last written), `profile_suite` on the one-row `profile_sql` (whole-table aggregates:
    row count, key uniqueness, label coverage). `failing_keys_sql`: per profile column, the query
    naming the rows behind a failure."""

    table: str
    key_column: str
    written_column: str
    row_suite: Callable[[], "gx.ExpectationSuite"]
    profile_sql: str
    profile_suite: Callable[[], "gx.ExpectationSuite"]
    failing_keys_sql: dict[str, str]


def _great_expectations():
    """great_expectations, imported on first use with its usage analytics off (read at its import)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations

    return great_expectations


def labelled_posts_suite(taxonomy: Taxonomy) -> "gx.ExpectationSuite":
    """Each labelled post's own values: labels in the taxonomy (and empathy levels), confidences in [0, 1],
    text where labelled."""
    gx = _great_expectations()
    expectations = gx.expectations
    suite = gx.ExpectationSuite(name="fct_labelled_posts")
    suite.add_expectation(expectations.ExpectColumnValuesToNotBeNull(column="post_key"))
    for dimension in taxonomy.dimensions:
        suite.add_expectation(
            expectations.ExpectColumnValuesToBeInSet(column=dimension.name, value_set=list(dimension.class_names))
        )
        suite.add_expectation(
            expectations.ExpectColumnValuesToBeBetween(column=f"{dimension.name}_confidence", min_value=0, max_value=1)
        )
    for mechanism in MECHANISMS:  # how replies receive what they answer: the same checks as the taxonomy's
        suite.add_expectation(
            expectations.ExpectColumnValuesToBeInSet(column=f"empathy_{mechanism}", value_set=list(LEVELS))
        )
        suite.add_expectation(
            expectations.ExpectColumnValuesToBeBetween(
                column=f"empathy_{mechanism}_confidence", min_value=0, max_value=1
            )
        )
    first = taxonomy.dimensions[0].name
    suite.add_expectation(
        expectations.ExpectColumnValueLengthsToBeBetween(
            column="text", min_value=1, row_condition=f"{first}.notnull()", condition_parser="pandas"
        )
    )
    suite.add_expectation(
        expectations.ExpectColumnValuesToNotBeNull(
            column="text", row_condition=f"{first}.notnull()", condition_parser="pandas"
        )
    )
    return suite


def labelled_posts_profile_sql(taxonomy: Taxonomy) -> str:
    first = taxonomy.dimensions[0].name
    return f"""
        select
            count(*) as row_count,
            count(*) - count(post_key) as keys_missing,
            count(post_key) - count(distinct post_key) as keys_repeated,
            -- an empty table has nothing to cover
            coalesce(
                count({first}) filter (where {LABELLABLE_POSTS})
                / nullif(count(*) filter (where {LABELLABLE_POSTS}), 0),
                1
            ) as label_coverage
        from marts.fct_labelled_posts
    """


def labelled_posts_profile_suite() -> "gx.ExpectationSuite":
    gx = _great_expectations()
    expectations = gx.expectations
    suite = gx.ExpectationSuite(name="fct_labelled_posts_profile")
    suite.add_expectation(expectations.ExpectColumnValuesToBeBetween(column="row_count", min_value=1))
    suite.add_expectation(expectations.ExpectColumnValuesToBeBetween(column="keys_missing", max_value=0))
    suite.add_expectation(expectations.ExpectColumnValuesToBeBetween(column="keys_repeated", max_value=0))
    suite.add_expectation(
        expectations.ExpectColumnValuesToBeBetween(column="label_coverage", min_value=MIN_LABEL_COVERAGE)
    )
    return suite


def labelled_posts_suites(taxonomy: Taxonomy) -> TableSuites:
    return TableSuites(
        table="marts.fct_labelled_posts",
        key_column="post_key",
        written_column="fact_written_at",
        row_suite=lambda: labelled_posts_suite(taxonomy),
        profile_sql=labelled_posts_profile_sql(taxonomy),
        profile_suite=labelled_posts_profile_suite,
        failing_keys_sql={
            "keys_repeated": "select post_key from marts.fct_labelled_posts group by all having count(*) > 1"
            " order by post_key"
        },
    )


def suite_version(build_suite: Callable[[], "gx.ExpectationSuite"]) -> str:
    """A fingerprint of the suite's expectations: rows validated under another suite are validated again."""
    _great_expectations().get_context(mode="ephemeral")  # GX 1.x builds suites inside a context
    configs = sorted(json.dumps(e.configuration.to_json_dict(), sort_keys=True) for e in build_suite().expectations)
    return hashlib.sha256("\n".join(configs).encode()).hexdigest()[:16]


def validate(
    frames: pd.DataFrame | Iterable[pd.DataFrame],
    build_suite: Callable[[], "gx.ExpectationSuite"],
    key_column: str | None = None,
) -> SuiteOutcome:
    """Validate the frame, or each frame of a table read in parts (one outcome: an expectation passes
    when it passes on every part; counts add up). The suite is built inside the context (GX 1.x
    requires an active one). Failing rows are named by `key_column`, when given."""
    gx = _great_expectations()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    suite = build_suite()
    whole_frame = (
        context.data_sources.add_pandas("warehouse")
        .add_dataframe_asset(suite.name)
        .add_batch_definition_whole_dataframe("whole_table")
    )
    result_format: dict = {"result_format": "SUMMARY"}
    if key_column:
        result_format["unexpected_index_column_names"] = [key_column]
    merged: list[dict] = []
    row_count = 0
    for frame in [frames] if isinstance(frames, pd.DataFrame) else frames:
        result = whole_frame.get_batch(batch_parameters={"dataframe": frame}).validate(
            suite, result_format=result_format
        )
        results = [_expectation_result(r, key_column) for r in result.results]
        if merged:
            results = [_merge(a, b, row_count, len(frame)) for a, b in zip(merged, results, strict=True)]
        merged = results
        row_count += len(frame)
    return SuiteOutcome(success=all(r["success"] for r in merged), results=merged, row_count=row_count)


def _expectation_result(r, key_column: str | None) -> dict:
    return {
        "expectation": r.expectation_config.type,
        "column": r.expectation_config.kwargs.get("column"),
        "success": r.success,
        "unexpected_count": r.result.get("unexpected_count"),
        "unexpected_percent": r.result.get("unexpected_percent"),
        "observed_value": r.result.get("observed_value"),
        "partial_unexpected_list": [str(v) for v in r.result.get("partial_unexpected_list") or []][:10],
        "failing_keys": [
            str(row[key_column])
            for row in (r.result.get("partial_unexpected_index_list") if key_column else None) or []
        ][:MAX_FAILING_KEYS],
    }


def _merge(before: dict, part: dict, rows_before: int, part_rows: int) -> dict:
    """One expectation's result over the rows so far and a further part of the table (row expectations
    only: none of the suites read in parts uses `mostly` or a whole-column statistic)."""
    counts = [before["unexpected_count"], part["unexpected_count"]]
    percents = [before["unexpected_percent"], part["unexpected_percent"]]
    rows = rows_before + part_rows
    return {
        **before,
        "success": before["success"] and part["success"],
        "unexpected_count": None if None in counts else sum(counts),
        # weighted by rows: exact where every row counts (a conditional expectation's share is close)
        "unexpected_percent": None
        if None in percents or not rows
        else (percents[0] * rows_before + percents[1] * part_rows) / rows,
        "observed_value": before["observed_value"] if before["observed_value"] is not None else part["observed_value"],
        "partial_unexpected_list": (before["partial_unexpected_list"] + part["partial_unexpected_list"])[:10],
        "failing_keys": (before["failing_keys"] + part["failing_keys"])[:MAX_FAILING_KEYS],
    }
