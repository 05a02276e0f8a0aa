"""Great-expectations 1.x suites for the tables that feed the aggregate marts.

GX validates a pandas frame read from DuckDB: its SQL datasource over duckdb_engine returns no
rows (docs/stack.md, trap 2). Suites are built from the taxonomy, so label checks follow the taxonomy.
"""

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from stigma_insights.assets.labels.taxonomy import Taxonomy

if TYPE_CHECKING:
    import great_expectations as gx

# Share of labellable posts (available, with text) that must carry a relevance label.
MIN_LABEL_COVERAGE = 0.95
LABELLABLE = "status == 'available' and text.notnull() and text.str.strip() != ''"


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


def _great_expectations():
    """great_expectations, imported on first use with its usage analytics off (read at its import)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations

    return great_expectations


def labelled_posts_suite(taxonomy: Taxonomy) -> "gx.ExpectationSuite":
    gx = _great_expectations()
    expectations = gx.expectations
    suite = gx.ExpectationSuite(name="fct_labelled_posts")
    suite.add_expectation(expectations.ExpectTableRowCountToBeBetween(min_value=1))
    suite.add_expectation(expectations.ExpectColumnValuesToNotBeNull(column="post_key"))
    suite.add_expectation(expectations.ExpectColumnValuesToBeUnique(column="post_key"))
    for dimension in taxonomy.dimensions:
        suite.add_expectation(
            expectations.ExpectColumnValuesToBeInSet(column=dimension.name, value_set=list(dimension.class_names))
        )
        suite.add_expectation(
            expectations.ExpectColumnValuesToBeBetween(column=f"{dimension.name}_confidence", min_value=0, max_value=1)
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
    suite.add_expectation(
        expectations.ExpectColumnValuesToNotBeNull(
            column=first, mostly=MIN_LABEL_COVERAGE, row_condition=LABELLABLE, condition_parser="pandas"
        )
    )
    return suite


def validate(frame: pd.DataFrame, build_suite: Callable[[], "gx.ExpectationSuite"], key_column: str) -> SuiteOutcome:
    """Validate the frame; the suite is built inside the context (GX 1.x requires an active one).
    Failing rows are named by `key_column`."""
    gx = _great_expectations()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    suite = build_suite()
    batch = (
        context.data_sources.add_pandas("warehouse")
        .add_dataframe_asset(suite.name)
        .add_batch_definition_whole_dataframe("whole_table")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    result = batch.validate(
        suite, result_format={"result_format": "SUMMARY", "unexpected_index_column_names": [key_column]}
    )
    results = [
        {
            "expectation": r.expectation_config.type,
            "column": r.expectation_config.kwargs.get("column"),
            "success": r.success,
            "unexpected_count": r.result.get("unexpected_count"),
            "unexpected_percent": r.result.get("unexpected_percent"),
            "observed_value": r.result.get("observed_value"),
            "partial_unexpected_list": [str(v) for v in r.result.get("partial_unexpected_list") or []][:10],
            "failing_keys": [str(row[key_column]) for row in r.result.get("partial_unexpected_index_list") or []][
                :MAX_FAILING_KEYS
            ],
        }
        for r in result.results
    ]
    return SuiteOutcome(success=result.success, results=results, row_count=len(frame))
