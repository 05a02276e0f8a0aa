"""Test set-up: one warehouse per test session, on the bundled sample, with settings passed explicitly."""

import os
import tempfile
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from stigma_insights.settings import Settings

# Property-based tests: 150 generated cases each in the whole suite, 30 in the inner loop (make test-fast).
FUZZ_CHECKS = {"deadline": None, "suppress_health_check": [HealthCheck.function_scoped_fixture]}
settings.register_profile("full", max_examples=150, **FUZZ_CHECKS)
settings.register_profile("fast", max_examples=30, **FUZZ_CHECKS)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "full"))

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).with_name("fixtures")
SAMPLE_LANDING = REPO_ROOT / "data" / "landing"


def settings_for(warehouse: Path, landing: Path = SAMPLE_LANDING) -> Settings:
    """The repository's settings with this warehouse and landing folder (published and the Dagster
    instance beside the warehouse)."""
    return Settings.from_env(
        project_dir=REPO_ROOT, warehouse=warehouse, landing=landing, dagster_home=warehouse.parent / "dagster_home"
    )


def minilm():
    """MiniLM as this process's environment configures it (read now: tests set variables per test). Tests
    are the top layer: the code under test is handed what they build here."""
    from stigma_insights.assets.labels.embedding import MiniLM

    return MiniLM(Settings.from_env().embedding)


def reddit_posts(count: int):
    """The report's sources figure of a warehouse of `count` Reddit posts, created in January 2026."""
    import pandas as pd

    return pd.DataFrame(
        {
            "platform": ["reddit"],
            "kind": ["post"],
            "n_items": [count],
            "first_created_at": [pd.Timestamp("2026-01-01", tz="UTC")],
            "last_created_at": [pd.Timestamp("2026-02-01", tz="UTC")],
        }
    )


def public_post_key(post_key: str) -> str:
    """The pseudonym analysts see for a warehouse post key, under the key the test runs use."""
    from stigma_insights.assets.privacy import pseudonym_key, pseudonymise_post_key

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the development key's warning
        return pseudonymise_post_key(post_key, pseudonym_key())


def run_job(settings: Settings, job_name: str, **execute_options):
    """A job of the definitions in process, as the CLI runs it, on the settings' persistent instance."""
    from stigma_insights.instance import open_instance
    from stigma_insights.orchestration.definitions import build_definitions

    with open_instance(settings) as instance:
        return (
            build_definitions(settings)
            .resolve_job_def(job_name)
            .execute_in_process(instance=instance, raise_on_error=False, **execute_options)
        )


def run_everything(settings: Settings, **execute_options):
    """The whole job."""
    from stigma_insights.orchestration.definitions import MATERIALISE_EVERYTHING

    return run_job(settings, MATERIALISE_EVERYTHING, **execute_options)


@pytest.fixture(scope="session")
def session_settings() -> Settings:
    from stigma_insights.orchestration.dbt import dbt_project, prepare_manifest

    settings = settings_for(Path(tempfile.mkdtemp(prefix="stigma-insights-tests-")) / "warehouse.duckdb")
    prepare_manifest(settings, dbt_project(settings))
    return settings


@pytest.fixture(scope="session")
def sample_run(session_settings):
    """The whole job materialised once on the bundled sample, into the session warehouse."""
    return run_everything(session_settings)


@pytest.fixture
def warehouse(sample_run, session_settings):
    import duckdb

    with duckdb.connect(str(session_settings.warehouse), read_only=True) as conn:
        yield conn


@pytest.fixture
def postgres_server(tmp_path):
    """A PostgreSQL server listening on a Unix socket in tmp_path: (server, socket folder)."""
    from loopback_stack import postgres_server

    folder = tmp_path / "postgres"
    with postgres_server(folder) as server:
        yield server, folder
