"""The Dagster resources the assets and checks ask for, built from `Settings` by the definitions.

Bottom layer, beside the settings: it imports no asset, check or definition, and builds nothing on import.
"""

import dataclasses
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
from dagster_dbt import DbtCliResource
from dagster_duckdb import DuckDBResource
from dagster_ray import Lifecycle, RayResource

from stigma_insights.lake import attach_lake
from stigma_insights.settings import (
    RAY_INIT_OPTIONS,
    ApiSettings,
    EmbeddingSettings,
    LakeSettings,
    Settings,
    arctic_shift_settings,
    ray_worker_environment,
    reddit_api_settings,
    tiktok_api_settings,
)

# Every asset and check that opens the warehouse runs in this Dagster concurrency pool (limit 1 in
# dagster_home/dagster.yaml): a DuckDB file admits one process while any process writes to it.
WAREHOUSE_POOL = "duckdb_warehouse"
# The dbt installed beside this interpreter (the venv's), whatever PATH says.
DBT_EXECUTABLE = str(Path(sys.executable).with_name("dbt"))


class ProjectFiles(dg.ConfigurableResource):
    """Where the assets read landed files and starter annotations, keep engines, publish the marts and the report."""

    landing_folder: str
    # The warehouse's DuckDB file; on a DuckLake, the path the project's side files are still named after
    # (the collectors' state beside it: `<stem>_collect/`), as the DuckDB resource then holds no file.
    warehouse_file: str
    starter_annotations_folder: str
    bundled_sample_folder: str  # the repository's sample landing files: a warehouse of only these is flagged
    engines_folder: str
    published_file: str
    report_file: str
    collection_file: str


class Embedding(dg.ConfigurableResource):
    """How the labels embed text (the model files, backend and device), route posts not in English and
    label on Ray: the `EmbeddingSettings` the definitions were built with, handed to the domain code, which
    reads no setting itself."""

    backend: str
    device: str | None = None
    model_path: str | None = None
    cache_folder: str
    multilingual: str
    labels_engine: str
    ray_address: str | None = None
    ray_staging: str | None = None

    @classmethod
    def of(cls, settings: EmbeddingSettings) -> "Embedding":
        return cls(**{**dataclasses.asdict(settings), "cache_folder": str(settings.cache_folder)})

    def settings(self) -> EmbeddingSettings:
        values = {field.name: getattr(self, field.name) for field in dataclasses.fields(EmbeddingSettings)}
        return EmbeddingSettings(**{**values, "cache_folder": Path(self.cache_folder)})


class CollectorApi(dg.ConfigurableResource):
    """One API's base URLs and credentials for the collection assets; the secrets come from EnvVar, so
    their values never show in the UI or in run config. `missing` names the variables not set."""

    base_url: str
    auth_url: str = ""
    client_id: str = ""
    client_secret: str = ""
    user_agent: str = ""
    missing: list[str] = []


def collector_api(api: ApiSettings) -> CollectorApi:
    """The API's settings as a resource: each variable it requires, when set, goes in as an EnvVar."""
    from_environment = {
        attribute: dg.EnvVar(variable) for variable, attribute in api.required if getattr(api, attribute)
    }
    values = {"base_url": api.base_url, "auth_url": api.auth_url, "user_agent": api.user_agent} | from_environment
    return CollectorApi(**values, missing=api.missing())


class LabellingRay(RayResource):
    """The Ray that labels posts when `STIGMA_INSIGHTS_LABELS_ENGINE=ray`: the cluster at `address`, or a local
    Ray (unset). dagster-ray's resource, so a deployment can bind another (its `KubeRayCluster` creates a
    cluster per run). Nothing to create; the labels asset connects only when it labels on Ray, and the
    connection ends with the run."""

    address: str | None = None

    @property
    def host(self) -> str:
        return (urlsplit(self.address).hostname if self.address else None) or "127.0.0.1"

    @property
    def ray_address(self) -> str | None:  # type: ignore[override]  # None: ray.init starts a local Ray
        return self.address

    @property
    def name(self) -> str:
        return f"Ray at {self.address}" if self.address else "a local Ray"

    @property
    def created(self) -> bool:
        return True

    @property
    def ready(self) -> bool:
        return True

    def get_env_vars_to_inject(self) -> dict[str, str]:
        return super().get_env_vars_to_inject() | ray_worker_environment()


def labelling_ray(settings: Settings) -> LabellingRay:
    return LabellingRay(
        address=settings.embedding.ray_address,
        lifecycle=Lifecycle(connect=False, cleanup="never"),  # nothing to delete; a connection always ends
        ray_init_options=RAY_INIT_OPTIONS,
    )


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class WarehouseDbtCliResource(DbtCliResource):
    """dbt on this run's warehouse: the profile reads the warehouse path from the subprocess's environment.

    dagster-dbt starts dbt with a copy of os.environ taken inside `cli()`, so the variables are set
    for exactly that call and restored after it.
    """

    environment: dict[str, str]

    def cli(self, args, **kwargs):
        with _environment(self.environment):
            return super().cli(args, **kwargs)


class LakeWarehouseResource(DuckDBResource):
    """dagster-duckdb's resource on a DuckLake warehouse (it has no attach hook of its own): each connection
    is an in-memory DuckDB with the lake attached as its default database (stigma_insights/lake.py)."""

    lake_catalog: str
    lake_data_path: str
    read_only: bool = False

    @contextmanager
    def get_connection(self):
        with super().get_connection() as conn:
            attach_lake(conn, LakeSettings(self.lake_catalog, self.lake_data_path), self.read_only)
            yield conn


def warehouse_resource(settings: Settings, read_only: bool = False) -> DuckDBResource:
    """The warehouse: the DuckDB file, or the lake when one is configured."""
    memory = {"memory_limit": settings.duckdb_memory_limit}
    if settings.lake:
        return LakeWarehouseResource(
            database=":memory:",
            # An in-memory DuckDB would spill into `.tmp` under the working directory: beside the warehouse instead.
            connection_config={**memory, "temp_directory": f"{settings.warehouse}.tmp"},
            lake_catalog=settings.lake.catalog,
            lake_data_path=settings.lake.data_path,
            read_only=read_only,
        )
    return DuckDBResource(
        database=str(settings.warehouse),
        connection_config={**memory, **({"access_mode": "READ_ONLY"} if read_only else {})},
    )


def build_resources(settings: Settings, dbt_project) -> dict[str, dg.ConfigurableResource]:
    return {
        "duckdb": warehouse_resource(settings),
        "warehouse_reader": warehouse_resource(settings, read_only=True),
        "dbt": dbt_cli(settings, dbt_project),
        "project_files": ProjectFiles(
            landing_folder=str(settings.landing),
            warehouse_file=str(settings.warehouse),
            starter_annotations_folder=str(settings.starter_annotations),
            bundled_sample_folder=str(settings.bundled_sample),
            engines_folder=str(settings.engines_folder),
            published_file=str(settings.published),
            report_file=str(settings.report),
            collection_file=str(settings.collection_file),
        ),
        "reddit_api": collector_api(reddit_api_settings()),
        "arctic_shift_api": collector_api(arctic_shift_settings()),
        "tiktok_api": collector_api(tiktok_api_settings()),
        "ray": labelling_ray(settings),
        "embedding": Embedding.of(settings.embedding),
    }


def dbt_cli(settings: Settings, dbt_project) -> WarehouseDbtCliResource:
    return WarehouseDbtCliResource(
        project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE, environment=settings.dbt_environment()
    )
