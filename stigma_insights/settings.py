"""Every setting of the platform, read from the environment in this one module and nowhere else.

Reading is all this module does: importing it writes nothing, and nothing here is read at import
time. Paths default to the project folder (the checkout that holds `dbt_project/` and `data/`):
`$STIGMA_INSIGHTS_PROJECT_DIR`, or else the current directory, as dbt and `dagster dev` expect.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_DIR_ENV = "STIGMA_INSIGHTS_PROJECT_DIR"
WAREHOUSE_ENV = "STIGMA_INSIGHTS_DUCKDB"  # also read by dbt_project/profiles.yml in the dbt subprocess
LANDING_ENV = "STIGMA_INSIGHTS_LANDING"
PUBLISHED_ENV = "STIGMA_INSIGHTS_PUBLISHED"
MODEL_CACHE_ENV = "STIGMA_INSIGHTS_MODEL_CACHE"
MODEL_PATH_ENV = "STIGMA_INSIGHTS_MODEL_PATH"  # e.g. on a GPU machine without the model package
DEVICE_ENV = "STIGMA_INSIGHTS_DEVICE"  # cpu, cuda, cuda:1 ...; default: cuda when present
BACKEND_ENV = "STIGMA_INSIGHTS_EMBEDDING_BACKEND"  # auto, torch or onnx-int8
MULTILINGUAL_ENV = "STIGMA_INSIGHTS_MULTILINGUAL"  # non-english (default) or off
LABELS_ENGINE_ENV = "STIGMA_INSIGHTS_LABELS_ENGINE"  # local (default) or ray: where posts are labelled
RAY_ADDRESS_ENV = "STIGMA_INSIGHTS_RAY_ADDRESS"  # a Ray cluster (ray://host:10001, auto); unset: a local Ray
RAY_STAGING_ENV = "STIGMA_INSIGHTS_RAY_STAGING"  # a folder the Ray workers and the pipeline share
RAY_FORWARDED_PREFIXES = ("STIGMA_INSIGHTS_", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
# How the pipeline starts or joins Ray, by hand or through the Dagster resource: quietly, no dashboard.
RAY_INIT_OPTIONS: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
PSEUDONYM_KEY_ENV = "STIGMA_INSIGHTS_PSEUDONYM_KEY"  # read in the dbt subprocess, by the privacy plugin
CRASH_AT_ENV = "STIGMA_INSIGHTS_CRASH_AT"  # tests only: the named point where the process kills itself
COLLECTION_ENV = "STIGMA_INSIGHTS_COLLECTION"  # the collection file (what to collect)
# The collectors' APIs: base URLs (overridable, e.g. for a stand-in server) and credentials.
REDDIT_CLIENT_ID_ENV = "STIGMA_INSIGHTS_REDDIT_CLIENT_ID"
REDDIT_CLIENT_SECRET_ENV = "STIGMA_INSIGHTS_REDDIT_CLIENT_SECRET"
REDDIT_USER_AGENT_ENV = "STIGMA_INSIGHTS_REDDIT_USER_AGENT"
REDDIT_AUTH_URL_ENV = "STIGMA_INSIGHTS_REDDIT_AUTH_URL"
REDDIT_API_URL_ENV = "STIGMA_INSIGHTS_REDDIT_API_URL"
ARCTIC_SHIFT_URL_ENV = "STIGMA_INSIGHTS_ARCTIC_SHIFT_URL"
TIKTOK_CLIENT_KEY_ENV = "STIGMA_INSIGHTS_TIKTOK_CLIENT_KEY"
TIKTOK_CLIENT_SECRET_ENV = "STIGMA_INSIGHTS_TIKTOK_CLIENT_SECRET"
TIKTOK_API_URL_ENV = "STIGMA_INSIGHTS_TIKTOK_API_URL"
LAKE_ENV = "STIGMA_INSIGHTS_LAKE"  # a DuckLake catalog (ducklake:...): the warehouse's storage instead of the file
LAKE_DATA_PATH_ENV = "STIGMA_INSIGHTS_LAKE_DATA_PATH"  # where the lake's Parquet files go (a folder or s3://...)
# How long the lake keeps what later runs replaced (snapshots to travel back to, the files they read).
LAKE_RETENTION_ENV = "STIGMA_INSIGHTS_LAKE_RETENTION"
DEFAULT_LAKE_RETENTION = "7 days"
# What DuckDB may keep in memory in the pipeline's own process (not dbt's): the blocks it read or wrote
# (DuckDB's default, 80% of the machine, keeps every one) and its temporary tables; past it, it evicts or spills.
DUCKDB_MEMORY_LIMIT_ENV = "STIGMA_INSIGHTS_DUCKDB_MEMORY_LIMIT"
DAGSTER_HOME_ENV = "DAGSTER_HOME"  # Dagster's own: the instance (runs, events) that the CLI and the UI share

EMBEDDING_BACKENDS = ("auto", "torch", "onnx-int8")
# Which posts the multilingual model (multilingual-e5-small) labels: those not in English, or none.
MULTILINGUAL_ROUTINGS = ("non-english", "off")
LABELS_ENGINES = ("local", "ray")


def default_duckdb_memory_limit() -> str:
    """256 MB per CPU (DuckDB wants at least 128 MB per thread), and no less than 1 GB."""
    return f"{max(1024, 256 * (os.cpu_count() or 1))}MB"


def _path(value: str | Path) -> Path:
    return Path(value).expanduser().resolve()


@dataclass(frozen=True)
class EmbeddingSettings:
    """Which model files, backend and device embed texts; None means the default."""

    backend: str = "auto"
    device: str | None = None
    model_path: str | None = None
    cache_folder: Path = Path("data/models")
    multilingual: str = "non-english"
    labels_engine: str = "local"
    ray_address: str | None = None
    ray_staging: str | None = None  # a folder or an s3:// URI; None: this machine's temporary folder

    def __post_init__(self) -> None:
        if self.backend not in EMBEDDING_BACKENDS:
            raise ValueError(f"{BACKEND_ENV}={self.backend!r}: choose one of {', '.join(EMBEDDING_BACKENDS)}")
        if self.multilingual not in MULTILINGUAL_ROUTINGS:
            raise ValueError(
                f"{MULTILINGUAL_ENV}={self.multilingual!r}: choose one of {', '.join(MULTILINGUAL_ROUTINGS)}"
            )
        if self.labels_engine not in LABELS_ENGINES:
            raise ValueError(f"{LABELS_ENGINE_ENV}={self.labels_engine!r}: choose one of {', '.join(LABELS_ENGINES)}")


@dataclass(frozen=True)
class LakeSettings:
    """A DuckLake that holds the warehouse: `catalog` is what DuckDB attaches (`ducklake:<catalog.ducklake
    file>` on one machine, `ducklake:postgres:dbname=... host=...` for several writers), `data_path`
    where its Parquet files go, `retention` (a DuckDB interval) how long snapshots and the files only they
    read are kept."""

    catalog: str
    data_path: str
    retention: str = DEFAULT_LAKE_RETENTION

    def __post_init__(self) -> None:
        if not self.catalog.startswith("ducklake:"):
            raise ValueError(f"{LAKE_ENV}={self.catalog!r}: a DuckLake catalog starts with 'ducklake:'")


@dataclass(frozen=True)
class Settings:
    """Where the warehouse, the landing files and the project's other files live, and how to embed."""

    project_dir: Path
    warehouse: Path
    landing: Path
    published: Path
    dagster_home: Path
    collection_file: Path
    embedding: EmbeddingSettings = field(default_factory=EmbeddingSettings)
    # Unset: the warehouse is the single DuckDB file `warehouse` (the default).
    lake: LakeSettings | None = None
    duckdb_memory_limit: str = field(default_factory=default_duckdb_memory_limit)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: str | Path | None) -> "Settings":
        """Settings from the environment; keyword overrides (warehouse=..., landing=...) win over it."""
        env = os.environ if environ is None else environ
        given = {name: value for name, value in overrides.items() if value}
        project_dir = _path(given.get("project_dir") or env.get(PROJECT_DIR_ENV) or Path.cwd())
        default_warehouse = project_dir / "data" / "warehouse.duckdb"
        warehouse = _path(given.get("warehouse") or env.get(WAREHOUSE_ENV) or default_warehouse)
        published = given.get("published") or env.get(PUBLISHED_ENV)
        lake_catalog = given.get("lake") or env.get(LAKE_ENV)
        lake_data_path = given.get("lake_data_path") or env.get(LAKE_DATA_PATH_ENV)
        return cls(
            project_dir=project_dir,
            warehouse=warehouse,
            landing=_path(given.get("landing") or env.get(LANDING_ENV) or project_dir / "data" / "landing"),
            # The analysts' read-only copy of the marts: by default beside the warehouse, named after it.
            published=_path(published) if published else warehouse.with_name(f"{warehouse.stem}_published.duckdb"),
            collection_file=_path(
                given.get("collection_file")
                or env.get(COLLECTION_ENV)
                or project_dir / "assets" / "collect" / "collection.yaml"
            ),
            # Each warehouse its own run history: another warehouse's runs beside it, not in the project's instance
            # (they would interleave under the same asset keys, and its headline plots would jump between the two).
            dagster_home=_path(
                given.get("dagster_home")
                or env.get(DAGSTER_HOME_ENV)
                or (
                    project_dir / "dagster_home"
                    if warehouse == _path(default_warehouse)
                    else warehouse.with_name(f"{warehouse.stem}_dagster_home")
                )
            ),
            embedding=EmbeddingSettings(
                backend=env.get(BACKEND_ENV) or "auto",
                device=env.get(DEVICE_ENV) or None,
                model_path=env.get(MODEL_PATH_ENV) or None,
                cache_folder=_path(env.get(MODEL_CACHE_ENV) or project_dir / "data" / "models"),
                multilingual=env.get(MULTILINGUAL_ENV) or "non-english",
                labels_engine=env.get(LABELS_ENGINE_ENV) or "local",
                ray_address=env.get(RAY_ADDRESS_ENV) or None,
                ray_staging=env.get(RAY_STAGING_ENV) or None,
            ),
            lake=LakeSettings(
                str(lake_catalog),
                str(lake_data_path or warehouse.with_name(f"{warehouse.stem}_lake_files")),
                env.get(LAKE_RETENTION_ENV) or DEFAULT_LAKE_RETENTION,
            )
            if lake_catalog
            else None,
            duckdb_memory_limit=env.get(DUCKDB_MEMORY_LIMIT_ENV) or default_duckdb_memory_limit(),
        )

    @property
    def dbt_project_dir(self) -> Path:
        folder = self.project_dir / "dbt_project"
        if not (folder / "dbt_project.yml").is_file():
            raise FileNotFoundError(
                f"no dbt project at {folder}: run from the project folder or set {PROJECT_DIR_ENV} to it"
            )
        return folder

    @property
    def report(self) -> Path:
        """The insight report (HTML), published beside the analysts' copy."""
        return self.published.with_name(f"{self.warehouse.stem}_report.html")

    @property
    def starter_annotations(self) -> Path:
        """Labelled files of real posts that every warehouse's annotation store starts from (see its README)."""
        return self.project_dir / "data" / "annotations"

    @property
    def bundled_sample(self) -> Path:
        """The sample posts the repository ships (written for this project): a warehouse of only these is SAMPLE."""
        return self.project_dir / "data" / "landing"

    @property
    def engines_folder(self) -> Path:
        return self.embedding.cache_folder / "engines"

    def dbt_environment(self) -> dict[str, str]:
        """What the dbt subprocess must see beyond the inherited environment: the warehouse its profile opens."""
        lake = {LAKE_ENV: self.lake.catalog, LAKE_DATA_PATH_ENV: self.lake.data_path} if self.lake else {}
        return {WAREHOUSE_ENV: str(self.warehouse), **lake}


@dataclass(frozen=True)
class ApiSettings:
    """One API's base URL and credentials; `required` names the variables that must be set."""

    base_url: str
    auth_url: str = ""
    client_id: str = ""
    client_secret: str = ""
    user_agent: str = "stigma-insights/0.1 (research collector)"
    required: tuple[tuple[str, str], ...] = ()  # (variable, attribute)

    def missing(self) -> list[str]:
        return [variable for variable, attribute in self.required if not getattr(self, attribute)]


def reddit_api_settings(environ: Mapping[str, str] | None = None) -> ApiSettings:
    env = os.environ if environ is None else environ
    return ApiSettings(
        base_url=env.get(REDDIT_API_URL_ENV) or "https://oauth.reddit.com",
        auth_url=env.get(REDDIT_AUTH_URL_ENV) or "https://www.reddit.com",
        client_id=env.get(REDDIT_CLIENT_ID_ENV, ""),
        client_secret=env.get(REDDIT_CLIENT_SECRET_ENV, ""),
        user_agent=env.get(REDDIT_USER_AGENT_ENV, ""),
        required=(
            (REDDIT_CLIENT_ID_ENV, "client_id"),
            (REDDIT_CLIENT_SECRET_ENV, "client_secret"),
            (REDDIT_USER_AGENT_ENV, "user_agent"),  # Reddit asks for a unique one naming the app and its author
        ),
    )


def arctic_shift_settings(environ: Mapping[str, str] | None = None) -> ApiSettings:
    env = os.environ if environ is None else environ
    return ApiSettings(base_url=env.get(ARCTIC_SHIFT_URL_ENV) or "https://arctic-shift.photon-reddit.com")


def tiktok_api_settings(environ: Mapping[str, str] | None = None) -> ApiSettings:
    env = os.environ if environ is None else environ
    return ApiSettings(
        base_url=env.get(TIKTOK_API_URL_ENV) or "https://open.tiktokapis.com",
        client_id=env.get(TIKTOK_CLIENT_KEY_ENV, ""),
        client_secret=env.get(TIKTOK_CLIENT_SECRET_ENV, ""),
        required=((TIKTOK_CLIENT_KEY_ENV, "client_id"), (TIKTOK_CLIENT_SECRET_ENV, "client_secret")),
    )


def ray_worker_environment() -> dict[str, str]:
    """What Ray workers must see to load the models the way this process does (a cluster's workers do not
    inherit its environment): the project's variables and the Hugging Face offline switches; the model
    files' folder defaults to the project's, which is this process's working directory, not theirs."""
    forwarded = {name: value for name, value in os.environ.items() if name.startswith(RAY_FORWARDED_PREFIXES)}
    forwarded.setdefault(PROJECT_DIR_ENV, str(Settings.from_env().project_dir))
    return forwarded


def pseudonym_key_setting() -> str | None:
    return os.environ.get(PSEUDONYM_KEY_ENV) or None


def crash_at_setting() -> str | None:
    return os.environ.get(CRASH_AT_ENV) or None
