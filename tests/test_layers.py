"""The house rules: layers import downwards only, importing does nothing, and an installed copy works."""

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT

# Where each sub-package's files live (pyproject.toml maps the folders into the stigma_insights namespace).
PACKAGE_FOLDERS = {
    "stigma_insights": REPO_ROOT / "stigma_insights",
    "stigma_insights.assets": REPO_ROOT / "assets",
    "stigma_insights.quality": REPO_ROOT / "quality",
    "stigma_insights.orchestration": REPO_ROOT / "orchestration",
}
WIRING = ("dagster", "dagster_dbt", "dagster_duckdb", "stigma_insights.orchestration", "stigma_insights.resources")


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in PACKAGE_FOLDERS.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            name = ".".join((package, *parts)).removesuffix(".__init__")
            found[name] = path
    return found


def imported_names(path: Path) -> set[str]:
    """Every module the file imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def imports_any(path: Path, prefixes: tuple[str, ...]) -> set[str]:
    return {name for name in imported_names(path) if name.startswith(prefixes)}


def is_dagster_module(name: str) -> bool:
    """The thin Dagster layer of a step: its `assets` module, and the quality package's check factories."""
    step_assets = name.endswith(".assets") and name != "stigma_insights.assets"
    return step_assets or name in ("stigma_insights.quality.checks", "stigma_insights.quality.accounting")


def test_every_module_is_found():
    names = modules()
    assert {
        "stigma_insights.settings",
        "stigma_insights.assets.labels.engine",
        "stigma_insights.orchestration.definitions",
        "stigma_insights.quality.suites",
    } <= set(names)


def test_the_bottom_layer_imports_nothing_above_it():
    for name in ("stigma_insights.settings", "stigma_insights.crash_points", "stigma_insights.lake"):
        path = modules()[name]
        assert imports_any(path, ("stigma_insights", "dagster")) <= {"stigma_insights.settings"}, name
    resources = modules()["stigma_insights.resources"]
    assert imports_any(resources, ("stigma_insights",)) == {"stigma_insights.settings", "stigma_insights.lake"}


def test_domain_modules_import_no_dagster_wiring():
    domain = {
        name: path
        for name, path in modules().items()
        if name.startswith(("stigma_insights.assets", "stigma_insights.quality")) and not is_dagster_module(name)
    }
    assert "stigma_insights.assets.labels.engine" in domain and "stigma_insights.assets.privacy" in domain
    offending = {name: sorted(imports_any(path, WIRING)) for name, path in domain.items() if imports_any(path, WIRING)}
    assert offending == {}


# Domain modules that read an environment variable, and why it cannot be handed to them: the pseudonym key is
# read where DuckDB calls the privacy functions, inside dbt's process (the plugin gets no settings); Ray
# workers are handed this process's variables; the CPUs a process may use are what Ray gave its actor.
READS_THE_ENVIRONMENT = {
    "stigma_insights.assets.privacy": {"pseudonym_key_setting"},
    "stigma_insights.assets.labels.ray_engine": {"ray_worker_environment"},
    "stigma_insights.assets.labels.embedding": {"os.environ.get"},
}


def environment_reads(path: Path) -> set[str]:
    """Calls in the file that read settings from the environment: `Settings.from_env`, a settings-module
    function named `*_settings` / `*_setting`, `os.getenv`, `os.environ.get` or `os.environ[...]`."""
    settings_functions = {
        alias.name
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module == "stigma_insights.settings"
        for alias in node.names
        if alias.name.endswith(("_settings", "_setting", "_environment"))
    }
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            called = ast.unparse(node.func)
            if (
                called in settings_functions
                or called in ("os.getenv", "os.environ.get")
                or called.endswith(".from_env")
            ):
                found.add(called)
        elif (
            isinstance(node, ast.Subscript)
            and ast.unparse(node.value) == "os.environ"
            and isinstance(node.ctx, ast.Load)
        ):
            found.add("os.environ[]")
    return found


def test_domain_modules_are_handed_their_settings_and_read_no_environment():
    """Settings are read once at the top (the definitions, the CLI) and passed down, so definitions built
    with other settings are what runs; the few reads that cannot be handed down are named above."""
    domain = {
        name: path
        for name, path in modules().items()
        if name.startswith(("stigma_insights.assets", "stigma_insights.quality"))
    }
    reads = {name: environment_reads(path) for name, path in domain.items()}
    assert environment_reads(modules()["stigma_insights.orchestration.cli"])  # the test sees reads where they are
    assert {name: found for name, found in reads.items() if found} == READS_THE_ENVIRONMENT


def test_assets_and_checks_do_not_import_the_definitions():
    steps = {name: path for name, path in modules().items() if is_dagster_module(name)}
    assert len(steps) >= 5
    offending = {
        name: sorted(imports_any(path, ("stigma_insights.orchestration",)))
        for name, path in steps.items()
        if imports_any(path, ("stigma_insights.orchestration",))
    }
    assert offending == {}


IMPORT_EVERYTHING = """
import json, os, sys, threading
# The libraries first: what they do on import is theirs, not ours.
import dagster, dagster_dbt, dagster_duckdb, duckdb, numpy, pandas, polars, pyarrow, sklearn, yaml
before = (dict(os.environ), sorted(os.listdir(".")), list(sys.path), threading.active_count())
for name in json.loads(sys.argv[1]):
    __import__(name)
after = (dict(os.environ), sorted(os.listdir(".")), list(sys.path), threading.active_count())
changed_env = sorted(k for k in set(before[0]) | set(after[0]) if before[0].get(k) != after[0].get(k))
print(json.dumps({"env": changed_env, "files": after[1] != before[1], "path": after[2] != before[2],
                  "threads": after[3] - before[3],
                  "heavy": [m for m in ("torch", "sentence_transformers", "great_expectations") if m in sys.modules]}))
"""


def test_importing_every_module_changes_nothing(tmp_path):
    """No environment variable, file, sys.path entry or thread appears, and no heavy library loads."""
    names = sorted(name for name in modules() if not name.endswith(".finetune"))  # finetune is torch itself
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING, json.dumps(names)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )

    effects = json.loads(result.stdout.strip().splitlines()[-1])
    assert effects == {"env": [], "files": False, "path": False, "threads": 0, "heavy": []}


CHECK_INSTALLED_COPY = """
import json, sys
import stigma_insights, stigma_insights.orchestration.dbt_functions
from stigma_insights.assets.labels.taxonomy import load_taxonomy
from stigma_insights.orchestration.definitions import defs
definitions = defs()
keys = definitions.resolve_asset_graph().get_all_asset_keys()
print(json.dumps({"package": stigma_insights.__file__, "taxonomy": load_taxonomy().version,
                  "assets": sorted(key.to_user_string() for key in keys)}))
"""


@pytest.mark.slow
def test_a_non_editable_install_loads_the_definitions_from_the_project_folder(session_settings, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(REPO_ROOT),
        ],
        check=True,
        timeout=300,
    )
    assert sorted(p.name for p in target.iterdir() if not p.name.endswith((".dist-info", "bin"))) == ["stigma_insights"]
    run_from = tmp_path / "elsewhere"
    run_from.mkdir()

    # -P: not the current folder on sys.path; PYTHONPATH: the installed copy before the editable one.
    result = subprocess.run(
        [sys.executable, "-P", "-c", CHECK_INSTALLED_COPY],
        cwd=run_from,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(target), "STIGMA_INSIGHTS_PROJECT_DIR": str(REPO_ROOT)},
    )

    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(loaded["package"]).is_relative_to(target)
    from stigma_insights.assets.labels.taxonomy import load_taxonomy
    from stigma_insights.orchestration.definitions import build_definitions

    assert loaded["taxonomy"] == load_taxonomy().version
    here = build_definitions(session_settings).resolve_asset_graph().get_all_asset_keys()
    assert loaded["assets"] == sorted(key.to_user_string() for key in here)


def test_only_the_settings_module_names_the_platform_environment_variables():
    def names_a_variable(path: Path) -> bool:
        return any(
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and re.fullmatch(r"STIGMA_INSIGHTS_[A-Z_]+", node.value)
            for node in ast.walk(ast.parse(path.read_text()))
        )

    assert {name for name, path in modules().items() if names_a_variable(path)} == {"stigma_insights.settings"}


def test_no_dbt_description_is_cut_at_a_comma_by_a_yaml_flow_mapping():
    """`{name: community, description: Subreddit, or the hashtags}` reads as description "Subreddit" and a
    stray key: the UI, dbt docs and the published file's comments would carry the cut text. Every column
    entry may hold only dbt's keys."""
    import yaml

    dbt_keys = {"name", "description", "data_type", "data_tests", "constraints", "quote", "meta", "config"}
    stray = []
    for path in sorted((REPO_ROOT / "dbt_project").glob("models/**/*.yml")):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models", []):
            for column in model.get("columns", []):
                stray += [f"{path.name}: {model['name']}.{column['name']}: {key!r}" for key in set(column) - dbt_keys]
    assert stray == []
