"""Run a command against a DuckLake on the loopback scale-out stack: its catalog in PostgreSQL (pgserver),
its data on S3 (moto's server), both started here and stopped when the command ends.

    python bench/lake_stack.py python bench/run_benchmark.py --size 1000000 --stages ingest_ndjson,dbt

The command sees STIGMA_INSIGHTS_LAKE, STIGMA_INSIGHTS_LAKE_DATA_PATH and the AWS variables. moto keeps
the objects in memory: budget about the size of the data written.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loopback_stack import lake_catalog, postgres_server, s3_server  # noqa: E402

from stigma_insights.settings import LAKE_DATA_PATH_ENV, LAKE_ENV  # noqa: E402


def main() -> int:
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    with tempfile.TemporaryDirectory(prefix="stigma-lake-stack-") as scratch:
        folder = Path(scratch) / "postgres"
        with postgres_server(folder) as server, s3_server("lake") as (aws, _):
            environment = {**os.environ, **aws, LAKE_ENV: lake_catalog(server, folder)}
            environment[LAKE_DATA_PATH_ENV] = "s3://lake/files/"
            return subprocess.call(sys.argv[1:], env=environment)


if __name__ == "__main__":
    sys.exit(main())
