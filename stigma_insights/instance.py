"""The one persistent Dagster instance (`dagster_home/`) that `stigma-insights run` and `dagster dev` share.

What the CLI materialises shows in the UI with its metadata, and both obey the same pool limits.
A run whose process died (killed, out of memory, a power cut) would stay "started" for ever and
keep its pool slot, blocking every later run: `release_orphaned_runs` marks such runs failed and
frees their slots; the CLI calls it before each run, a sensor calls it under `dagster dev`.
"""

import os
import shutil

import dagster as dg

from stigma_insights.settings import Settings

IN_PROGRESS = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
INSTANCE_CONFIG = "dagster.yaml"


def open_instance(settings: Settings) -> dg.DagsterInstance:
    """The instance in `settings.dagster_home`; a new folder starts from the project's dagster.yaml (pool limits)."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    project_config = settings.project_dir / "dagster_home" / INSTANCE_CONFIG
    if not (home / INSTANCE_CONFIG).exists() and project_config.exists():
        shutil.copyfile(project_config, home / INSTANCE_CONFIG)
    return dg.DagsterInstance.from_config(str(home))


def run_process_id(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The process that executes the run: the one that logged its RUN_START event."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_START, limit=1).records
    event = records[0].event_log_entry.dagster_event if records else None
    return event.pid if event else None


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


def release_orphaned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Fail every in-progress run whose process is gone and free its pool slots; return their run ids.

    The instance is local (SQLite in dagster_home), so a run's process id is one of this machine's.
    A run still starting (no process yet) is left to Dagster's run monitoring.
    """
    released = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=IN_PROGRESS)):
        run = record.dagster_run
        pid = run_process_id(instance, run.run_id)
        if pid is None or _process_exists(pid):
            continue
        instance.report_run_failed(run, f"The process running this run (pid {pid}) is gone: marked failed.")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        released.append(run.run_id)
    return released
