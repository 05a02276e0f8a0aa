"""`stigma-insights`: what people do without the Dagster UI."""

import argparse
import os
import sys

from orchestration.settings import LANDING_ENV, WAREHOUSE_ENV


def run(args: argparse.Namespace) -> int:
    """Materialise the whole asset graph once, then say where the results are."""
    if args.warehouse:
        os.environ[WAREHOUSE_ENV] = args.warehouse
    if args.landing:
        os.environ[LANDING_ENV] = args.landing

    import dagster as dg
    import duckdb

    from orchestration.definitions import defs, refresh_run_config
    from orchestration.settings import landing_path, published_path, warehouse_path

    print(f"Landing files: {landing_path()}")
    # An in-process run executes its steps one after another, so it needs no pool limits; an
    # ephemeral instance also means a killed run leaves no claimed pool slot behind to block the next.
    result = defs.resolve_job_def("materialise_everything").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        run_config={
            "loggers": {"console": {"config": {"log_level": args.log_level}}},
            **refresh_run_config(args.full_refresh),
        },
    )
    checks = result.get_asset_check_evaluations()
    print(f"Checks: {sum(c.passed for c in checks)} passed, {sum(not c.passed for c in checks)} failed")
    for check in checks:
        if not check.passed:
            print(f"  FAILED {check.asset_check_key.asset_key.to_user_string()}:{check.check_name}")
    published = published_path()
    print(f"Warehouse: {warehouse_path()}")
    print(f"Published for analysts (open read-only): {published}")
    if published.exists():
        with duckdb.connect(str(published), read_only=True) as conn:
            for (table,) in conn.execute(
                "select table_name from duckdb_tables() where schema_name = 'marts' order by table_name"
            ).fetchall():
                (rows,) = conn.execute(f"select count(*) from marts.{table}").fetchone()
                print(f"  marts.{table}: {rows} rows")
    if not result.success:
        failed = [event.step_key for event in result.all_events if event.event_type_value == "STEP_FAILURE"]
        print(f"Run failed (steps: {', '.join(failed) or 'see log'}); downstream tables kept their last version.")
        return 1
    return 0


def evaluate(args: argparse.Namespace) -> int:
    """Train on a labelled file or the taxonomy, score on a labelled file, print (and save) the report."""
    import json

    from assets.labels.datasets import concatenate, read_labelled_file
    from assets.labels.evaluation import evaluate as run_evaluation
    from assets.labels.evaluation import format_report, training_set_from_file, training_set_from_taxonomy
    from assets.labels.taxonomy import load_taxonomy

    if bool(args.train) == bool(args.taxonomy):
        raise SystemExit("give either --train FILE or --taxonomy FILE --dimension D")
    if args.train:
        train = training_set_from_file(
            concatenate([read_labelled_file(path, args.text_col, args.label_col) for path in args.train])
        )
    else:
        if not args.dimension:
            raise SystemExit("--taxonomy needs --dimension")
        train = training_set_from_taxonomy(load_taxonomy(args.taxonomy).dimension(args.dimension))
    test = read_labelled_file(args.test, args.text_col, args.label_col)
    report = run_evaluation(train, test, fine_tune={"auto": None, "frozen": False, "fine-tuned": True}[args.engine])
    print(format_report(report))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=2)
        print(f"JSON report: {args.json}")
    return 0


def taxonomy_check(args: argparse.Namespace) -> int:
    """Cross-validate the taxonomy's own examples: how well each dimension's classes separate."""
    from assets.labels.labeller import train_from_taxonomy
    from assets.labels.taxonomy import DEFAULT_TAXONOMY_PATH, load_taxonomy

    taxonomy = load_taxonomy(args.taxonomy or DEFAULT_TAXONOMY_PATH)
    print(f"taxonomy {taxonomy.source}, version {taxonomy.version}")
    for name, engine in train_from_taxonomy(taxonomy).items():
        calibration = engine.calibration
        print(f"\n{name}: cross-validated macro-F1 {calibration.held_out_macro_f1:.3f}"
              f" (uncertain below {calibration.uncertain_below:.2f})")
        confusions = sorted(
            ((calibration.hard_rates[i, j], true, predicted)
             for i, true in enumerate(engine.classes_) for j, predicted in enumerate(engine.classes_) if i != j),
            reverse=True,
        )
        for rate, true, predicted in confusions:
            if rate > 0:
                print(f"  {rate:5.0%} of {true} examples labelled {predicted}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stigma-insights", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="materialise everything on the landing files")
    run_parser.add_argument("--warehouse", help=f"DuckDB file (default: ${WAREHOUSE_ENV} or data/warehouse.duckdb)")
    run_parser.add_argument("--landing", help=f"landing folder (default: ${LANDING_ENV} or data/landing)")
    run_parser.add_argument("--log-level", default="INFO", help="Dagster console log level (default: INFO)")
    run_parser.add_argument(
        "--full-refresh", action="store_true",
        help="rebuild the incremental dbt models whole and label every post again (embeddings stay cached)",
    )
    run_parser.set_defaults(handler=run)

    evaluate_parser = commands.add_parser("evaluate", help="score the labelling engine and two baselines")
    evaluate_parser.add_argument("--train", action="append", help="labelled CSV or Parquet to train on (repeatable)")
    evaluate_parser.add_argument("--taxonomy", help="taxonomy YAML to train on instead (with --dimension)")
    evaluate_parser.add_argument("--dimension", help="taxonomy dimension, e.g. stigma_domain")
    evaluate_parser.add_argument("--test", required=True, help="labelled CSV or Parquet to score on")
    evaluate_parser.add_argument("--text-col", required=True)
    evaluate_parser.add_argument("--label-col", required=True, help='label column; "a,b" takes the first present')
    evaluate_parser.add_argument("--json", help="also write the report as JSON here")
    evaluate_parser.add_argument(
        "--engine", choices=["auto", "frozen", "fine-tuned"], default="auto",
        help="auto: fine-tune from 300 training texts; frozen: the frozen-embedding engine the pipeline's"
        " taxonomy labels use (what STIGMA_INSIGHTS_EMBEDDING_BACKEND changes)",
    )
    evaluate_parser.set_defaults(handler=evaluate)

    taxonomy_parser = commands.add_parser("taxonomy-check", help="cross-validate the taxonomy's examples")
    taxonomy_parser.add_argument("--taxonomy", help="taxonomy YAML (default: the shipped one)")
    taxonomy_parser.set_defaults(handler=taxonomy_check)
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
