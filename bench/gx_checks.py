"""Peak memory and time of the fact table's GX row suite on a large table (issue #14: < 4 GB at 1M posts).

Builds a DuckDB file of `--rows` labelled posts (real post texts from ../shared/data, valid labels), then
validates it in a fresh process per way of reading: the whole table in one data frame (as before
2026-11-27), and in parts of checks.ROWS_PER_FRAME rows (the shipped check).

    .venv/bin/python bench/gx_checks.py [--rows 1000000]
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))


def build(path: Path, rows: int) -> None:
    from stigma_insights.assets.labels.empathy import LEVELS, MECHANISMS
    from stigma_insights.assets.labels.taxonomy import load_taxonomy

    from generate_landing import shared_real_texts

    texts = shared_real_texts()
    rng = np.random.default_rng(1)
    columns = {
        "post_key": [f"post-{i:08d}" for i in range(rows)],
        "text": [texts[i] for i in rng.integers(len(texts), size=rows)],
    }
    for dimension in load_taxonomy().dimensions:
        columns[dimension.name] = rng.choice(dimension.class_names, size=rows)
        columns[f"{dimension.name}_confidence"] = rng.random(rows)
    for mechanism in MECHANISMS:
        columns[f"empathy_{mechanism}"] = rng.choice(LEVELS, size=rows)
        columns[f"empathy_{mechanism}_confidence"] = rng.random(rows)

    with duckdb.connect(str(path)) as conn:
        conn.register("posts", pa.table(columns))
        conn.execute("create table fct_labelled_posts as select * from posts")


def validate_in(path: Path, way: str) -> dict:
    from stigma_insights.assets.labels.taxonomy import load_taxonomy
    from stigma_insights.quality.checks import frames_of
    from stigma_insights.quality.suites import labelled_posts_suite, validate

    started = time.perf_counter()
    with duckdb.connect(str(path), read_only=True) as conn:
        result = conn.execute("select * from fct_labelled_posts")
        frames = result.df() if way == "whole" else frames_of(result)
        outcome = validate(frames, lambda: labelled_posts_suite(load_taxonomy()), "post_key")
    return {
        "way": way,
        "rows": outcome.row_count,
        "passed": outcome.success,
        "seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--validate", nargs=2, metavar=("DATABASE", "WAY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.validate:
        print(json.dumps(validate_in(Path(args.validate[0]), args.validate[1])))
        return
    with tempfile.TemporaryDirectory() as scratch:
        database = Path(scratch) / "warehouse.duckdb"
        build(database, args.rows)
        for way in ("whole", "parts"):
            # a process each: the peak is the validation's own
            line = (
                subprocess.run(
                    [sys.executable, __file__, "--validate", str(database), way],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                .stdout.strip()
                .splitlines()[-1]
            )
            print(line, flush=True)


if __name__ == "__main__":
    main()
