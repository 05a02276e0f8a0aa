"""Test set-up: every test session gets its own warehouse file, set before orchestration is imported."""

import os
import tempfile
from pathlib import Path

import pytest

SESSION_DIR = Path(tempfile.mkdtemp(prefix="stigma-insights-tests-"))
os.environ["STIGMA_INSIGHTS_DUCKDB"] = str(SESSION_DIR / "warehouse.duckdb")
os.environ.pop("STIGMA_INSIGHTS_LANDING", None)  # the bundled sample

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).with_name("fixtures")


@pytest.fixture(scope="session")
def sample_run():
    """The whole job materialised once on the bundled sample, into the session warehouse."""
    import dagster as dg

    from orchestration.definitions import defs

    result = defs.resolve_job_def("materialise_everything").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )
    return result


@pytest.fixture
def warehouse(sample_run):
    import duckdb

    with duckdb.connect(os.environ["STIGMA_INSIGHTS_DUCKDB"], read_only=True) as conn:
        yield conn
