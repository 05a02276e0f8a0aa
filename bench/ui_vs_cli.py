"""How long a full materialisation takes when the Dagster UI launches it, against `stigma-insights run`.

A run launched from the UI executes the job with the job's executor in a run worker process, as
`dagster job execute` does; both are timed here on the bundled sample, each into a new warehouse and
a new instance (so both label every post). Target (issue #11): the UI's run takes at most 2x the CLI's.

    .venv/bin/python bench/ui_vs_cli.py [--repeat N]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COMMANDS = {
    "cli": [str(BIN / "stigma-insights"), "run"],
    "dagster job execute": [
        *(str(BIN / "dagster"), "job", "execute", "-m", "stigma_insights.orchestration.definitions"),
        *("-j", "materialise_everything"),
    ],
}


def timed_run(command: list[str]) -> float:
    with tempfile.TemporaryDirectory(prefix="stigma-insights-ui-bench-") as scratch:
        environment = {
            **os.environ,
            "STIGMA_INSIGHTS_DUCKDB": str(Path(scratch) / "warehouse.duckdb"),
            "DAGSTER_HOME": str(Path(scratch) / "dagster_home"),
        }
        Path(environment["DAGSTER_HOME"]).mkdir()
        (Path(environment["DAGSTER_HOME"]) / "dagster.yaml").write_bytes(
            (REPO_ROOT / "dagster_home" / "dagster.yaml").read_bytes()
        )
        started = time.perf_counter()
        finished = subprocess.run(command, cwd=REPO_ROOT, env=environment, capture_output=True, text=True)
        if finished.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{finished.stdout[-3000:]}{finished.stderr[-3000:]}")
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each (the median is compared)")
    args = parser.parse_args()
    seconds = {name: [timed_run(command) for _ in range(args.repeat)] for name, command in COMMANDS.items()}
    for name, times in seconds.items():
        print(f"{name:>20}: median {statistics.median(times):6.1f} s  ({', '.join(f'{t:.1f}' for t in times)})")
    ratio = statistics.median(seconds["dagster job execute"]) / statistics.median(seconds["cli"])
    print(f"{'ratio':>20}: {ratio:.2f} (target <= 2.0)")


if __name__ == "__main__":
    main()
