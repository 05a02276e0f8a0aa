"""Sensors: start ingestion when landing files arrive; fail runs whose process was killed."""

from pathlib import Path

import dagster as dg

from stigma_insights.assets.ingest.formats import SOURCE_FORMATS
from stigma_insights.assets.ingest.loader import landed_files
from stigma_insights.instance import release_orphaned_runs


def landing_state(landing: Path) -> str:
    """What is in the landing folders the loaders read: file count and newest change (ns)."""
    files = [path for source in SOURCE_FORMATS.values() for path in landed_files(source, landing / source.name)]
    return f"{len(files)}:{max((path.stat().st_mtime_ns for path in files), default=0)}"


def build_landing_sensor(landing: Path, job) -> dg.SensorDefinition:
    @dg.sensor(
        name="new_landing_files",
        job=job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=f"Runs the job when files arrive in {landing} (collected pages, dumps, exports dropped by hand)."
        " Off by default: turn it on in the UI.",
    )
    def new_landing_files(context: dg.SensorEvaluationContext):
        state = landing_state(landing)
        if context.cursor is None:  # first look: what is there now was there before the sensor
            context.update_cursor(state)
            return dg.SkipReason(f"watching {landing} ({state.split(':')[0]} files)")
        if state == context.cursor:
            return dg.SkipReason("no new landing files")
        context.update_cursor(state)
        return dg.RunRequest(run_key=f"landing-{state}")

    return new_landing_files


@dg.sensor(
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Fails runs whose process was killed and frees their pool slots, so they block no later run.",
)
def release_killed_runs(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    released = release_orphaned_runs(context.instance)
    return dg.SkipReason(f"released {', '.join(released)}" if released else "no run was killed")
