"""`stigma-insights`: what people do without the Dagster UI."""

import argparse
import sys
from datetime import date
from typing import TYPE_CHECKING, Any

from stigma_insights.settings import COLLECTION_ENV, LANDING_ENV, PUBLISHED_ENV, WAREHOUSE_ENV, Settings

if TYPE_CHECKING:
    import dagster as dg


def prepare(args: argparse.Namespace) -> int:
    """Parse the dbt project into the manifest that the Dagster definitions are built from."""
    from stigma_insights.orchestration.dbt import dbt_project, prepare_manifest

    settings = Settings.from_env()
    project = dbt_project(settings)
    parsed = prepare_manifest(settings, project, force=args.force)
    print(f"dbt manifest {'written' if parsed else 'up to date'}: {project.manifest_path}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Materialise the whole asset graph once, then say where the results are."""
    import duckdb

    from stigma_insights.instance import open_instance, release_orphaned_runs
    from stigma_insights.orchestration.dbt import dbt_project, prepare_manifest
    from stigma_insights.orchestration.definitions import MATERIALISE_EVERYTHING, build_definitions, refresh_run_config

    settings = Settings.from_env(warehouse=args.warehouse, landing=args.landing)
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    project = dbt_project(settings)
    prepare_manifest(settings, project)
    print(f"Landing files: {settings.landing}")
    # The instance `dagster dev` shows: this run, its materialisations and checks appear in the UI.
    with open_instance(settings) as instance:
        for run_id in release_orphaned_runs(instance):
            print(f"Run {run_id} had been killed: marked failed, its pool slots freed.")
        result = (
            build_definitions(settings, project)
            .resolve_job_def(MATERIALISE_EVERYTHING)
            .execute_in_process(
                instance=instance,
                raise_on_error=False,
                tags={"launched_by": "stigma-insights run"},
                run_config={
                    "loggers": {"console": {"config": {"log_level": args.log_level}}},
                    **refresh_run_config(args.full_refresh),
                },
            )
        )
    if was_interrupted(result):
        print("Run interrupted: the step it stopped in and everything downstream kept their last version.")
        return INTERRUPTED
    checks = result.get_asset_check_evaluations()
    print(f"Checks: {sum(c.passed for c in checks)} passed, {sum(not c.passed for c in checks)} failed")
    for check in checks:
        if not check.passed:
            print(f"  FAILED {check.asset_check_key.asset_key.to_user_string()}:{check.check_name}")
    if problems := landing_problems(result):
        print("Landing files not loaded whole:")
        for problem in problems:
            print(f"  {problem}")
        print("  Each rejected record, with its position and reason: select * from raw.rejects")
    published = settings.published
    print(f"Dagster instance (make dev on the same warehouse shows this run): {settings.dagster_home}")
    lake = settings.lake
    print(f"Warehouse: {f'{lake.catalog} (files under {lake.data_path})' if lake else settings.warehouse}")
    print(f"Published for analysts (open read-only): {published}")
    if published.exists():
        with duckdb.connect(str(published), read_only=True) as conn:
            for (table,) in conn.execute(
                "select table_name from duckdb_tables() where schema_name = 'marts' order by table_name"
            ).fetchall():
                [(rows,)] = conn.execute(f"select count(*) from marts.{table}").fetchall()
                print(f"  marts.{table}: {rows} rows")
    if settings.report.exists():
        print(f"Insight report: {settings.report}")
    if not result.success:
        failed = [str(event.step_key) for event in result.all_events if event.event_type_value == "STEP_FAILURE"]
        print(f"Run failed (steps: {', '.join(failed) or 'see log'}); downstream tables kept their last version.")
        return 1
    return 0


INTERRUPTED = 130  # the shell's exit status for a process stopped by Ctrl-C (128 + SIGINT)


def was_interrupted(result: "dg.ExecuteInProcessResult") -> bool:
    """True when Ctrl-C (or a termination) stopped the run: Dagster turns it into a step failure of its own class."""
    return any(
        event.event_type_value == "STEP_FAILURE"
        and event.step_failure_data.error is not None
        and event.step_failure_data.error.cls_name in ("DagsterExecutionInterruptedError", "KeyboardInterrupt")
        for event in result.all_events
    )


def landing_problems(result: "dg.ExecuteInProcessResult") -> list[str]:
    """One line per landed file this run did not load whole (records rejected, refused, skipped), from the
    raw assets' metadata."""
    problems = []
    for event in result.get_asset_materialization_events():
        if event.asset_key is None or event.asset_key.path[0] != "raw":
            continue
        metadata: dict[str, Any] = {name: value.value for name, value in event.materialization.metadata.items()}
        for path, reasons in metadata.get("rejects_by_file", {}).items():
            counted = ", ".join(f"{reason}: {count}" for reason, count in reasons.items())
            total = sum(reasons.values())
            problems.append(f"{path}: {total} record{'s' if total > 1 else ''} rejected ({counted})")
        problems += [f"{path}: refused whole ({why})" for path, why in metadata.get("files_refused", {}).items()]
        problems += [f"{path}: skipped ({why})" for path, why in metadata.get("files_skipped", {}).items()]
    return problems


DEV_STOP_GRACE_S = 5  # after Ctrl-C or SIGTERM, how long `dev` lets Dagster's processes stop before killing them


def dev(args: argparse.Namespace) -> int:
    """`dagster dev` on the project's workspace, stopped whole. Dagster's own answer to SIGTERM waits up to a
    minute per service, and a SIGTERM to `make dev` reaches only make's shell: the webserver, the daemon and
    the code servers lived on. Here they run in a process group of their own, which Ctrl-C or SIGTERM
    interrupts together and kills DEV_STOP_GRACE_S later if anything is left."""
    import contextlib
    import os
    import signal
    import subprocess
    import threading
    from pathlib import Path

    from stigma_insights.instance import open_instance
    from stigma_insights.settings import DAGSTER_HOME_ENV

    settings = Settings.from_env()
    with open_instance(settings):  # the warehouse's instance, created from the project's dagster.yaml if new
        pass
    dagster = Path(sys.executable).with_name("dagster")
    process = subprocess.Popen(
        [str(dagster), "dev", "-w", "workspace.yaml", "-p", str(args.port)],
        env={**os.environ, DAGSTER_HOME_ENV: str(settings.dagster_home)},
        start_new_session=True,
    )

    def signal_group(signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):  # every process of the group has exited
            os.killpg(process.pid, signum)

    stopped: list[int] = []

    def stop(signum: int, _frame: object) -> None:
        stopped.append(signum)
        signal_group(signal.SIGINT)
        threading.Timer(DEV_STOP_GRACE_S, signal_group, [signal.SIGKILL]).start()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    returncode = process.wait()
    signal_group(signal.SIGKILL)  # what outlived `dagster dev` itself (a code server it started)
    print("Dagster stopped: webserver, daemon and code servers.")
    return 0 if stopped else returncode  # stopping on request is a clean end


def collect(args: argparse.Namespace) -> int:
    """Fetch what is new from one API into the landing folder; `stigma-insights run` then ingests it."""
    from datetime import UTC, datetime

    from stigma_insights.assets.collect import collectors
    from stigma_insights.assets.collect.config import CollectionConfigError, load_collection
    from stigma_insights.assets.collect.pages import CollectState
    from stigma_insights.settings import arctic_shift_settings, reddit_api_settings, tiktok_api_settings

    api = {"reddit": reddit_api_settings, "arctic-shift": arctic_shift_settings, "tiktok": tiktok_api_settings}[
        args.source
    ]()
    if missing := api.missing():
        where = {
            "reddit": "a script app's id and secret from https://www.reddit.com/prefs/apps, and a User-Agent"
            " naming your app and your Reddit username",
            "tiktok": "the Research API client key and secret of your approved project at"
            " https://developers.tiktok.com/products/research-api/",
        }.get(args.source, "")
        print(
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: the {args.source} collector"
            f" needs {'it' if len(missing) == 1 else 'them'} (nothing was fetched)."
            + (f" Set {where}." if where else ""),
            file=sys.stderr,
        )
        return 2
    settings = Settings.from_env(warehouse=args.warehouse, landing=args.landing, collection_file=args.config)
    try:
        collection = load_collection(settings.collection_file)
    except CollectionConfigError as error:
        print(error, file=sys.stderr)
        return 2
    run_collector, client = collectors.build_collector(
        args.source,
        api,
        collection,
        settings.warehouse,
        settings.landing,
        comments=args.comments,
        subreddits=getattr(args, "subreddit", None),
        since=datetime.combine(args.since, datetime.min.time(), UTC) if getattr(args, "since", None) else None,
        after=getattr(args, "after", None),
        before=getattr(args, "before", None),
    )
    dates = {"start": args.start, "end": args.end} if args.source == "tiktok" else {}
    summary = run_collector(**dates)
    print(summary.line(client))
    if args.source == "tiktok":
        requests, records, _ = CollectState(settings.warehouse, "tiktok").quota_used(
            datetime.now(UTC).date().isoformat()
        )
        print(
            f"TikTok quota used today (UTC): {requests} of {collectors.TIKTOK_DAILY_REQUESTS} requests,"
            f" {records} of {collectors.TIKTOK_DAILY_RECORDS} records"
        )
    if summary.pages:
        print("Next: stigma-insights run (ingests the new landing files)")
    return 1 if summary.failed else 0


def report(args: argparse.Namespace) -> int:
    """Build the insight report from the published analyst copy, without running the pipeline."""
    from pathlib import Path

    from stigma_insights.assets.report.figures import read_figures
    from stigma_insights.assets.report.render import write_findings_csv, write_report

    settings = Settings.from_env(warehouse=args.warehouse, published=args.published)
    try:
        figures = read_figures(settings.published)
    except FileNotFoundError as error:
        print(error, file=sys.stderr)
        return 2
    print(f"Insight report: {write_report(figures, Path(args.out) if args.out else settings.report)}")
    if args.findings_csv:
        print(f"Findings: {write_findings_csv(figures, Path(args.findings_csv))}")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    """Score the engine and two baselines: trained on files or the taxonomy and tested on a file, or
    by K-fold cross-validation of one labelled file. Print (and save) the report."""
    import json

    from stigma_insights.assets.labels.datasets import concatenate, read_labelled_file
    from stigma_insights.assets.labels.embedding import MiniLM
    from stigma_insights.assets.labels.evaluation import cross_validate, format_report, training_set_from_file
    from stigma_insights.assets.labels.evaluation import evaluate as run_evaluation
    from stigma_insights.assets.labels.labeller import taxonomy_training_set
    from stigma_insights.assets.labels.taxonomy import DEFAULT_TAXONOMY_PATH, load_taxonomy

    dimension = None
    if args.taxonomy is not None:
        if not args.dimension:
            raise SystemExit("--taxonomy needs --dimension")
        dimension = load_taxonomy(args.taxonomy or DEFAULT_TAXONOMY_PATH).dimension(args.dimension)
    cues = dimension.cues if dimension else ()
    minilm = MiniLM(Settings.from_env().embedding)
    test = read_labelled_file(args.test, args.text_col, args.label_col)
    if args.cv:
        if args.train:
            raise SystemExit("--cv cross-validates the --test file: give no --train")
        extra = taxonomy_training_set(dimension) if dimension else None
        report = cross_validate(test, args.cv, minilm, extra, cues)
    else:
        if not args.train and not dimension:
            raise SystemExit("give --train FILE, --taxonomy [FILE] --dimension D, or --cv K")
        parts = (
            [
                training_set_from_file(
                    concatenate([read_labelled_file(path, args.text_col, args.label_col) for path in args.train])
                )
            ]
            if args.train
            else []
        )
        if dimension:
            parts.insert(0, taxonomy_training_set(dimension, scored=not parts))
        train = parts[0] if len(parts) == 1 else parts[0] + parts[1]
        report = run_evaluation(train, test, minilm, cues, fine_tune=args.engine == "fine-tuned")
    print(format_report(report))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=2)
        print(f"JSON report: {args.json}")
    return 0


def empathy(args: argparse.Namespace) -> int:
    """Train the reply-empathy engines on EPITOME and write the shipped artifact, or cross-validate them."""
    import json
    from pathlib import Path

    from stigma_insights.assets.labels.embedding import MiniLM
    from stigma_insights.assets.labels.empathy import SHIPPED_ENGINES, EmpathyEngines, read_epitome

    minilm = MiniLM(Settings.from_env().embedding)
    pairs = read_epitome(args.epitome)
    if args.action == "train":
        out = Path(args.out or SHIPPED_ENGINES)
        print(f"Training the empathy engines on {pairs.description} (six engines: a few minutes)")
        EmpathyEngines.train(pairs, lambda texts: minilm.embed(texts, progress=True), minilm.model_id).save(out)
        print(f"Written: {out}")
        return 0
    from stigma_insights.assets.labels.evaluation import cross_validate_empathy

    report = cross_validate_empathy(
        pairs, minilm.embed(pairs.replies, progress=True), minilm.embed(pairs.parents), args.cv
    )
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
        print(f"JSON report: {args.json}")
    return 0


def taxonomy_check(args: argparse.Namespace) -> int:
    """Cross-validate the taxonomy's own examples: how well each dimension's classes separate."""
    from stigma_insights.assets.labels.embedding import MiniLM
    from stigma_insights.assets.labels.labeller import train_engines, training_sets
    from stigma_insights.assets.labels.taxonomy import DEFAULT_TAXONOMY_PATH, load_taxonomy

    taxonomy = load_taxonomy(args.taxonomy or DEFAULT_TAXONOMY_PATH)
    print(f"taxonomy {taxonomy.source}, version {taxonomy.version}")
    minilm = MiniLM(Settings.from_env().embedding)
    for name, engine in train_engines(taxonomy, training_sets(taxonomy), minilm.embed).items():
        calibration = engine.calibration
        print(
            f"\n{name}: cross-validated macro-F1 {calibration.held_out_macro_f1:.3f}"
            f" (uncertain below {calibration.uncertain_below:.2f})"
        )
        confusions = sorted(
            (
                (calibration.hard_rates[i, j], true, predicted)
                for i, true in enumerate(engine.classes_)
                for j, predicted in enumerate(engine.classes_)
                if i != j
            ),
            reverse=True,
        )
        for rate, true, predicted in confusions:
            if rate > 0:
                print(f"  {rate:5.0%} of {true} examples labelled {predicted}")
    return 0


def annotate(args: argparse.Namespace) -> int:
    """Export posts to annotate from the warehouse, import a file of annotations into it, or export the
    starter annotations' vectors."""
    from pathlib import Path

    from stigma_insights.assets.labels import annotations
    from stigma_insights.assets.labels.taxonomy import load_taxonomy
    from stigma_insights.lake import warehouse_connection

    taxonomy = load_taxonomy()
    settings = Settings.from_env()
    if settings.lake is None and not settings.warehouse.exists():
        raise SystemExit(f"no warehouse at {settings.warehouse}: run `stigma-insights run` first")
    with warehouse_connection(settings) as conn:
        if args.action == "export-vectors":
            from stigma_insights.assets.labels.embedding_cache import export_starter_vectors

            texts = [
                t
                for (t,) in conn.execute(
                    "select distinct text from labels.annotations where sampling = 'external'"
                ).fetchall()
            ]
            folder = settings.starter_annotations / "vectors"
            for model_id, count in export_starter_vectors(conn, texts, folder).items():
                print(f"{count} vectors of {model_id}")
            print(f"Starter vectors: {folder}")
            return 0
        if args.action == "export":
            frame = annotations.export_for_annotation(conn, taxonomy, args.n, args.strategy, args.seed)
            out = Path(args.out or f"annotate_{args.strategy}_{len(frame)}.csv")
            annotations.write_table(frame, out)
            print(f"{len(frame)} posts to annotate ({frame['sampling'].value_counts().to_dict()}): {out}")
            print(
                "Fill in " + ", ".join(taxonomy.dimension_names) + " and annotator (docs/labelling_guide.md),"
                f" then: stigma-insights annotate import {out}"
            )
            return 0
        try:
            summary = annotations.import_annotations(conn, taxonomy, Path(args.file), args.annotator, args.external)
        except annotations.AnnotationImportError as error:
            print(error, file=sys.stderr)
            return 2
    print(
        f"{args.file}: {summary.rows_read} rows read, {summary.rows_without_labels} without labels (skipped);"
        f" annotations added {summary.added}, changed {summary.changed}, already there {summary.unchanged}"
    )
    for row in summary.agreement:
        kappa = "n/a" if row["kappa"] is None else f"{row['kappa']:.2f}"
        print(
            f"  agreement {row['dimension']:>14s} {row['annotators']}: {row['posts']} posts,"
            f" {row['agreement']:.0%} equal, Cohen's kappa {kappa}"
        )
    print("The next run trains the engines on the new training set and relabels every post.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stigma-insights", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="materialise everything on the landing files")
    run_parser.add_argument("--warehouse", help=f"DuckDB file (default: ${WAREHOUSE_ENV} or data/warehouse.duckdb)")
    run_parser.add_argument("--landing", help=f"landing folder (default: ${LANDING_ENV} or data/landing)")
    run_parser.add_argument("--log-level", default="INFO", help="Dagster console log level (default: INFO)")
    run_parser.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild the incremental dbt models whole and label every post again (embeddings stay cached)",
    )
    run_parser.set_defaults(handler=run)

    collect_parser = commands.add_parser("collect", help="fetch what is new from an API into the landing folder")
    sources = collect_parser.add_subparsers(dest="source", required=True)
    day = date.fromisoformat
    for name, text in (
        ("reddit", "new posts (and their comments) of subreddits, from the Reddit Data API"),
        ("arctic-shift", "history of subreddits from the Arctic Shift archive"),
        ("tiktok", "videos (and their comments) matching the configured query, from the TikTok Research API"),
    ):
        source = sources.add_parser(name, help=text)
        source.add_argument(
            "--config", help=f"collection YAML (default: ${COLLECTION_ENV} or assets/collect/collection.yaml)"
        )
        source.add_argument("--warehouse", help=f"warehouse holding the collectors' state (default: ${WAREHOUSE_ENV})")
        source.add_argument("--landing", help=f"landing folder (default: ${LANDING_ENV} or data/landing)")
        source.add_argument(
            "--comments", action=argparse.BooleanOptionalAction, help="fetch comments (default: the config's)"
        )
        if name != "tiktok":
            source.add_argument("--subreddit", action="append", help="subreddit (repeatable; default: the config's)")
        source.set_defaults(handler=collect)
    sources.choices["reddit"].add_argument("--since", type=day, help="nothing older than this date (YYYY-MM-DD)")
    sources.choices["arctic-shift"].add_argument("--after", type=day, help="from this date (default: the config's)")
    sources.choices["arctic-shift"].add_argument("--before", type=day, help="up to this date")
    sources.choices["tiktok"].add_argument("--start", type=day, help="first day (default: the config's start)")
    sources.choices["tiktok"].add_argument("--end", type=day, help="last day (default: yesterday, UTC)")

    report_parser = commands.add_parser("report", help="build the insight report (HTML) from the published copy")
    report_parser.add_argument("--out", help="HTML file to write (default: beside the published copy)")
    report_parser.add_argument(
        "--findings-csv", help="also write the findings ('What the data says') as CSV, one row per figure"
    )
    report_parser.add_argument(
        "--published", help=f"published DuckDB file (default: ${PUBLISHED_ENV} or beside the warehouse)"
    )
    report_parser.add_argument(
        "--warehouse", help=f"warehouse whose published copy to read (default: ${WAREHOUSE_ENV})"
    )
    report_parser.set_defaults(handler=report)

    dev_parser = commands.add_parser("dev", help="the Dagster UI and daemon on this project (what `make dev` runs)")
    dev_parser.add_argument("-p", "--port", type=int, default=3000, help="the UI's port (default: 3000)")
    dev_parser.set_defaults(handler=dev)

    prepare_parser = commands.add_parser("prepare", help="parse the dbt project for Dagster (run by make)")
    prepare_parser.add_argument("--force", action="store_true", help="parse even when the manifest is up to date")
    prepare_parser.set_defaults(handler=prepare)

    evaluate_parser = commands.add_parser("evaluate", help="score the labelling engine and two baselines")
    evaluate_parser.add_argument("--train", action="append", help="labelled CSV or Parquet to train on (repeatable)")
    evaluate_parser.add_argument(
        "--taxonomy",
        nargs="?",
        const="",
        metavar="FILE",
        help="also train on this taxonomy's texts and cues for --dimension, as the pipeline does"
        " (no FILE: the shipped taxonomy)",
    )
    evaluate_parser.add_argument("--dimension", help="taxonomy dimension, e.g. stigma_domain")
    evaluate_parser.add_argument(
        "--test",
        required=True,
        help="labelled CSV or Parquet to score on (with --cv: the file that is cross-validated)",
    )
    evaluate_parser.add_argument("--cv", type=int, metavar="K", help="K-fold cross-validation of the --test file")
    evaluate_parser.add_argument("--text-col", required=True)
    evaluate_parser.add_argument("--label-col", required=True, help='label column; "a,b" takes the first present')
    evaluate_parser.add_argument("--json", help="also write the report as JSON here")
    evaluate_parser.add_argument(
        "--engine",
        choices=["frozen", "fine-tuned"],
        default="frozen",
        help="frozen (default): the engine the pipeline labels with; fine-tuned: MiniLM fine-tuned on the"
        " training file (costly on a CPU; not with --cv)",
    )
    evaluate_parser.set_defaults(handler=evaluate)

    annotate_parser = commands.add_parser("annotate", help="export posts to annotate, or import annotations")
    annotate_actions = annotate_parser.add_subparsers(dest="action", required=True)
    export_parser = annotate_actions.add_parser("export", help="write posts from the warehouse to annotate")
    export_parser.add_argument("--n", type=int, required=True, help="how many posts")
    export_parser.add_argument(
        "--strategy",
        choices=["random", "uncertain", "mixed"],
        default="random",
        help="random (default; what error rates and shares use), uncertain (the engine's least confident:"
        " they only train), or mixed (half each)",
    )
    export_parser.add_argument("--out", help="CSV or .parquet file (default: annotate_<strategy>_<n>.csv)")
    export_parser.add_argument("--seed", type=int, default=0, help="seed of the random draw")
    import_parser = annotate_actions.add_parser("import", help="validate and store a file of annotations")
    import_parser.add_argument("file", help="CSV or Parquet: post_key, sampling, the label columns, annotator")
    import_parser.add_argument("--annotator", help="annotator name, where the file has no annotator column")
    import_parser.add_argument(
        "--external",
        metavar="NAME",
        help="the file's posts are not in the warehouse (a labelled file such as the gold set): rows are keyed"
        " by its id column and keep its text column; NAME names the file's origin",
    )
    annotate_actions.add_parser(
        "export-vectors",
        help="write the cached vectors of the starter annotations' texts to data/annotations/vectors/ (after a"
        " run), so new warehouses start with them",
    )
    annotate_parser.set_defaults(handler=annotate)

    empathy_parser = commands.add_parser("empathy", help="train or cross-validate the reply-empathy engines")
    empathy_actions = empathy_parser.add_subparsers(dest="action", required=True)
    for action, text in (
        ("train", "train on an EPITOME file and write the engines (default: the shipped artifact)"),
        ("evaluate", "cross-validate on an EPITOME file, grouped by post, against TF-IDF+LR and embedding+LR"),
    ):
        action_parser = empathy_actions.add_parser(action, help=text)
        action_parser.add_argument(
            "--epitome", required=True, help="EPITOME CSV, e.g. ../shared/data/epitome/epitome_dev.csv"
        )
    empathy_actions.choices["train"].add_argument("--out", help="artifact to write (default: the shipped one)")
    empathy_actions.choices["evaluate"].add_argument("--cv", type=int, default=5, metavar="K", help="folds (default 5)")
    empathy_actions.choices["evaluate"].add_argument("--json", help="also write the report as JSON here")
    empathy_parser.set_defaults(handler=empathy)

    taxonomy_parser = commands.add_parser("taxonomy-check", help="cross-validate the taxonomy's examples")
    taxonomy_parser.add_argument("--taxonomy", help="taxonomy YAML (default: the shipped one)")
    taxonomy_parser.set_defaults(handler=taxonomy_check)
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
