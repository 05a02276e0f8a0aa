"""Benchmark the pipeline at a chosen size: per-stage time, throughput and peak memory, plus ratios.

    python bench/run_benchmark.py --size 100000        # or: make bench SIZE=100000

Generates landing files (bench/generate_landing.py) into a scratch folder, runs the real Dagster
assets stage by stage on a fresh warehouse, then adds 1% new records and runs every stage again
(the nightly case). Each of the two runs has a fresh process of its own, as the Dagster daemon launches
each run in its own process, and its stages share it, as the shipped job's in-process executor does: a
stage's peak memory is that process's (and its dbt subprocess's) while the stage runs. Prints a table
and writes bench/results/latest.json (and size_<N>_<backend>[_<stages>].json).
"""

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR.parent))

from generate_landing import generate  # noqa: E402

ENCODE_SAMPLE = 2000  # texts for the plain `encode` baseline
# The generator holds its records in memory (about 1 GB per million): larger sizes are written in parts.
GENERATE_PART = 1_000_000
STAGES = ("ingest_ndjson", "ingest_documents", "dbt", "labels", "empathy", "fact", "checks", "aggregates", "upkeep")


class PeakMemory:
    """Peak resident memory of this process and its children (dbt runs in a subprocess), sampled."""

    def __init__(self, interval_s: float = 0.1):
        self.interval_s = interval_s
        self.peak_bytes = 0
        self._stop = threading.Event()

    def __enter__(self) -> "PeakMemory":
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while True:
            self.peak_bytes = max(self.peak_bytes, process_tree_rss(os.getpid()))
            if self._stop.wait(self.interval_s):
                return

    @property
    def peak_mb(self) -> float:
        return round(self.peak_bytes / 2**20, 1)


def process_tree_rss(root: int) -> int:
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry.name))
            rss[int(entry.name)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def stage_selections(steps):
    import dagster as dg

    from stigma_insights.assets.maintenance.assets import WAREHOUSE_STORAGE
    from stigma_insights.orchestration.definitions import LABELLED_FACT

    raw_keys = [["raw", name] for name in ("reddit_dump", "zeeschuimer", "reddit_api", "tiktok_research")]
    return {
        "ingest_ndjson": dg.AssetSelection.assets(*raw_keys[:2]).without_checks(),
        "ingest_documents": dg.AssetSelection.assets(*raw_keys[2:]).without_checks(),
        # with the raw table of the generic format, which the generator does not write (dbt stages it)
        "dbt": dg.AssetSelection.assets(*steps.clean_and_unify.keys, ["raw", "generic"]).without_checks(),
        # labels and the themes found among them (the fact table joins both)
        "labels": dg.AssetSelection.assets(
            *(
                ["labels", name]
                for name in ("post_labels", "label_error_rates", "label_classes", "themes", "post_themes")
            )
        ),
        # how replies receive what they answer (apart from labels: labels_vs_encode_ratio stays comparable)
        "empathy": dg.AssetSelection.assets(["labels", "reply_empathy"]),
        "fact": dg.AssetSelection.assets(*steps.labelled_fact.keys).without_checks(),
        # the Python checks: raw accounting and the blocking great-expectations suite (dbt tests run with dbt)
        "checks": dg.AssetSelection.checks_for_assets(*raw_keys)
        | dg.AssetSelection.checks(dg.AssetCheckKey(LABELLED_FACT, "gx_fct_labelled_posts")),
        "aggregates": dg.AssetSelection.assets(*steps.aggregates.keys, ["published", "analyst_marts"]),
        "upkeep": dg.AssetSelection.assets(WAREHOUSE_STORAGE),
    }


COUNT_SQL = {
    "read_ndjson": "select sum(records_read) from raw.load_log where source_format in ('reddit_dump', 'zeeschuimer')",
    "read_documents": "select sum(records_read) from raw.load_log"
    " where source_format in ('reddit_api', 'tiktok_research')",
    "posts": "select count(*) from intermediate.int_posts_deduplicated",
    "fact": "select count(*) from marts.fct_labelled_posts",
    "replies": "select count(*) from labels.reply_empathy",
}


def warehouse_counts(settings) -> dict[str, int]:
    """Rows so far in the tables each stage writes; 0 for tables not built yet (in the file or the lake)."""
    import duckdb

    from stigma_insights.lake import warehouse_connection

    if settings.lake is None and not settings.warehouse.exists():
        return dict.fromkeys(COUNT_SQL, 0)
    counts = {}
    try:
        with warehouse_connection(settings, read_only=True) as conn:
            for name, sql in COUNT_SQL.items():
                try:
                    counts[name] = conn.execute(sql).fetchone()[0] or 0
                except duckdb.CatalogException:
                    counts[name] = 0
    except duckdb.Error:  # a lake whose catalog is not created yet
        return dict.fromkeys(COUNT_SQL, 0)
    return counts


@contextlib.contextmanager
def output_to(log_path: Path):
    """Send this process's and its children's stdout/stderr (dbt's progress lines) to a log file."""
    sys.stdout.flush(), sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log_path.open("a") as log:
        os.dup2(log.fileno(), 1), os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush(), sys.stderr.flush()
            os.dup2(saved[0], 1), os.dup2(saved[1], 2)
            os.close(saved[0]), os.close(saved[1])


def run_stages(defs, steps, settings, label: str, stage_names: list[str], log_path: Path) -> dict[str, dict]:
    """Each stage as its own in-process run; records are what the stage handled."""
    import dagster as dg

    stages = {}
    for name, selection in stage_selections(steps).items():
        if name not in stage_names:
            continue
        job = dg.define_asset_job(f"bench_{name}", selection=selection)
        stage_defs = dg.Definitions(
            assets=defs.assets, asset_checks=defs.asset_checks, resources=defs.resources, jobs=[job]
        )
        before = warehouse_counts(settings)
        started = time.perf_counter()
        with PeakMemory() as memory, output_to(log_path):
            result = stage_defs.resolve_job_def(job.name).execute_in_process(
                instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
            )
        seconds = time.perf_counter() - started
        if not result.success:
            raise SystemExit(f"{label} run: stage {name} failed; see {log_path}")
        checks = result.get_asset_check_evaluations()
        if name == "checks" and (not checks or not all(check.passed for check in checks)):
            raise SystemExit(f"{label} run: {len(checks)} checks ran, not all passed; see {log_path}")
        after = warehouse_counts(settings)
        records = (
            labelled_this_run(result)
            if name == "labels"
            else {
                "ingest_ndjson": after["read_ndjson"] - before["read_ndjson"],
                "ingest_documents": after["read_documents"] - before["read_documents"],
                "dbt": after["posts"],
                "empathy": after["replies"] - before["replies"],
            }.get(name, after["fact"])
        )
        stages[name] = {
            "seconds": round(seconds, 2),
            "records": records,
            "records_per_s": round(records / seconds, 1),
            "peak_rss_mb": memory.peak_mb,
        }
        if name == "upkeep":  # the storage's footprint before and after, e.g. the lake's files merged
            (upkeep,) = result.get_asset_materialization_events()
            stages[name]["footprint"] = {key: value.value for key, value in upkeep.materialization.metadata.items()}
            print(f"  {'':<11} upkeep footprint {stages[name]['footprint']}", flush=True)
        print(
            f"  {label:<11} {name:<17} {seconds:9.2f} s {records:>10,} rec {records / seconds:>12,.0f} rec/s"
            f" {memory.peak_mb:>9,.0f} MB",
            flush=True,
        )
    return stages


def labelled_this_run(result) -> int:
    """Posts the labels stage embedded and labelled (not those whose labels it kept), from its metadata."""
    import dagster as dg

    (event,) = [
        e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(["labels", "post_labels"])
    ]
    return event.materialization.metadata["labelled_this_run"].value


def storage_name(settings) -> str:
    """The warehouse the run wrote: the DuckDB file, or a DuckLake with its catalog (file or PostgreSQL) and
    data (local folder or S3)."""
    if settings.lake is None:
        return "duckdb file"
    catalog = "-postgres" if settings.lake.catalog.startswith("ducklake:postgres:") else ""
    return f"ducklake{catalog}{'-s3' if settings.lake.data_path.startswith('s3://') else ''}"


def plain_encode_throughput(settings, sample: int) -> tuple[float, int]:
    """Texts/s of SentenceTransformer.encode (torch, defaults) on a random sample of the labelled texts."""
    from stigma_insights.assets.labels.embedding import load_sentence_transformer
    from stigma_insights.lake import warehouse_connection

    with warehouse_connection(settings, read_only=True) as conn:
        texts = [
            t
            for (t,) in conn.execute(
                "select text from marts.fct_labelled_posts where relevance is not null"
                f" using sample reservoir({int(sample)} rows) repeatable (7)"
            ).fetchall()
        ]
    encoder = load_sentence_transformer(settings.embedding)
    encoder.encode(texts[:64])
    started = time.perf_counter()
    encoder.encode(texts, batch_size=64)
    return len(texts) / (time.perf_counter() - started), len(texts)


def bench_settings(workdir: Path):
    """The settings of the scratch folder's warehouse and landing files."""
    from stigma_insights.settings import Settings

    return Settings.from_env(warehouse=workdir / "warehouse.duckdb", landing=workdir / "landing")


def run_in_this_process(run: str, workdir: Path, stage_names: list[str]) -> None:
    """One run's stages against the scratch folder's warehouse; the figures go to <workdir>/<run>.json."""
    from stigma_insights.orchestration.dbt import build_dbt_steps, dbt_project
    from stigma_insights.orchestration.definitions import build_definitions

    settings = bench_settings(workdir)
    project = dbt_project(settings)
    defs, steps = build_definitions(settings, project), build_dbt_steps(project)
    stages = run_stages(defs, steps, settings, run, stage_names, workdir / "pipeline.log")
    figures: dict = {"stages": stages}
    if run == "full" and "labels" in stages and "fact" in stages:
        encode_per_s, encode_sample = plain_encode_throughput(settings, ENCODE_SAMPLE)
        figures |= {"plain_encode_texts_per_s": round(encode_per_s, 1), "plain_encode_sample": encode_sample}
    (workdir / f"{run}.json").write_text(json.dumps(figures))


def run_in_a_fresh_process(run: str, args: argparse.Namespace, workdir: Path) -> dict:
    command = [sys.executable, __file__, "--run", run, "--workdir", str(workdir), "--stages", args.stages]
    subprocess.run(command, check=True)
    return json.loads((workdir / f"{run}.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--workdir", type=Path, help="scratch folder (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument(
        "--stages",
        default=",".join(STAGES),
        help="comma-separated stages to run (default: all); e.g. ingest_ndjson,ingest_documents,dbt for"
        " sizes whose labelling would take hours on a CPU",
    )
    parser.add_argument("--run", choices=("full", "incremental"), help=argparse.SUPPRESS)  # the runs' processes
    args = parser.parse_args()
    stage_names = [name for name in args.stages.split(",") if name]
    unknown = set(stage_names) - set(STAGES)
    if unknown:
        raise SystemExit(f"unknown stages {sorted(unknown)}; choose from {', '.join(STAGES)}")
    if args.run:
        run_in_this_process(args.run, args.workdir, stage_names)
        return

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix=f"stigma-bench-{args.size}-"))
    if workdir.exists():
        shutil.rmtree(workdir)
    landing = workdir / "landing"
    started = time.perf_counter()
    for first in range(0, args.size, GENERATE_PART):  # ids from 10**9 + first: the parts never share one
        generate(min(GENERATE_PART, args.size - first), landing, seed=1 + first, first_id=first)
    print(f"Generated {args.size:,} records in {time.perf_counter() - started:.1f} s under {landing}")

    from stigma_insights.assets.labels.embedding import backend_name
    from stigma_insights.orchestration.dbt import dbt_project, prepare_manifest

    settings = bench_settings(workdir)
    prepare_manifest(settings, dbt_project(settings))
    print(f"Embedding backend: {backend_name(settings.embedding)}; pipeline output goes to {workdir / 'pipeline.log'}")
    print(f"{'run':<13} {'stage':<17} {'time':>11} {'records':>14} {'throughput':>18} {'peak RSS':>12}")
    full_figures = run_in_a_fresh_process("full", args, workdir)
    delta = max(1, args.size // 100)
    generate(delta, landing, seed=2, first_id=args.size)
    full, incremental = full_figures["stages"], run_in_a_fresh_process("incremental", args, workdir)["stages"]

    full_s = sum(stage["seconds"] for stage in full.values())
    incremental_s = sum(stage["seconds"] for stage in incremental.values())
    ingest = [full[name] for name in ("ingest_ndjson", "ingest_documents") if name in full]
    stages = {
        name: {k: v for k, v in stage.items() if k != "records"}
        for name, stage in full.items()
        if not name.startswith("ingest")
    }
    if ingest:
        ingest_s = sum(stage["seconds"] for stage in ingest)
        stages = {
            "ingest": {
                "seconds": round(ingest_s, 2),
                "records_per_s": round(sum(stage["records"] for stage in ingest) / ingest_s, 1),
                "peak_rss_mb": max(stage["peak_rss_mb"] for stage in ingest),
            },
            **stages,
        }
    results = {
        "size": args.size,
        "stages": stages,
        "labels_vs_encode_ratio": None,
        "incremental_vs_full_ratio": round(incremental_s / full_s, 4),
        "ingest_records_per_s": full["ingest_ndjson"]["records_per_s"] if "ingest_ndjson" in full else None,
        "peak_rss_mb": max(stage["peak_rss_mb"] for stage in [*full.values(), *incremental.values()]),
        "details": {
            "stages_run": stage_names,
            "full_run": full,
            "incremental_run": incremental,
            "incremental_new_records": delta,
            "full_seconds": round(full_s, 2),
            "incremental_seconds": round(incremental_s, 2),
            "embedding_backend": backend_name(settings.embedding),
            "storage": storage_name(settings),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "process_per_run": True,
        },
    }
    print(f"\nfull run {full_s:.1f} s, incremental run ({delta:,} new records) {incremental_s:.1f} s")
    if "plain_encode_texts_per_s" in full_figures:
        encode_per_s = full_figures["plain_encode_texts_per_s"]
        results["labels_vs_encode_ratio"] = round(full["labels"]["records_per_s"] / encode_per_s, 3)
        results["details"].update(
            plain_encode_texts_per_s=encode_per_s, plain_encode_sample=full_figures["plain_encode_sample"]
        )
        print(
            f"labels stage {full['labels']['records_per_s']:,.1f} posts/s vs plain torch encode {encode_per_s:,.1f}"
            f" texts/s -> labels_vs_encode_ratio {results['labels_vs_encode_ratio']} (goal >= 1.5)"
        )
    print(f"incremental_vs_full_ratio {results['incremental_vs_full_ratio']} (goal <= 0.05)")
    if results["ingest_records_per_s"]:
        print(f"ingest_records_per_s {results['ingest_records_per_s']:,.0f} (NDJSON; goal >= 200,000)")
    print(f"peak_rss_mb {results['peak_rss_mb']:,.0f} (goal < 4,096 at 1M; the highest stage of either run)")
    results_dir = BENCH_DIR / "results"
    # A run of some stages only is kept apart from the whole pipeline's figures at that size.
    stages_part = "" if stage_names == list(STAGES) else "_" + "+".join(stage_names)
    storage_part = "" if settings.lake is None else "_" + storage_name(settings)
    for name in ("latest.json", f"size_{args.size}_{backend_name(settings.embedding)}{stages_part}{storage_part}.json"):
        (results_dir / name).write_text(json.dumps(results, indent=2) + "\n")
    print(f"Wrote {results_dir / 'latest.json'} and {name}")
    if not args.keep and not args.workdir:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
