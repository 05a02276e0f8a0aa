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

    from orchestration.definitions import defs
    from orchestration.settings import landing_path, warehouse_path

    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    print(f"Landing files: {landing_path()}")
    result = defs.resolve_job_def("materialise_everything").execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": args.log_level}}}},
    )
    checks = result.get_asset_check_evaluations()
    print(f"Checks: {sum(c.passed for c in checks)} passed, {sum(not c.passed for c in checks)} failed")
    for check in checks:
        if not check.passed:
            print(f"  FAILED {check.asset_check_key.asset_key.to_user_string()}:{check.check_name}")
    warehouse = warehouse_path()
    print(f"Warehouse: {warehouse}")
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        tables = conn.execute(
            "select table_name, estimated_size from duckdb_tables() where schema_name = 'marts' order by table_name"
        ).fetchall()
        for (table, _) in tables:
            (rows,) = conn.execute(f"select count(*) from marts.{table}").fetchone()
            print(f"  marts.{table}: {rows} rows")
    if not result.success:
        failed = [event.step_key for event in result.all_events if event.event_type_value == "STEP_FAILURE"]
        print(f"Run failed (steps: {', '.join(failed) or 'see log'}); downstream tables kept their last version.")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stigma-insights", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="materialise everything on the landing files")
    run_parser.add_argument("--warehouse", help=f"DuckDB file (default: ${WAREHOUSE_ENV} or data/warehouse.duckdb)")
    run_parser.add_argument("--landing", help=f"landing folder (default: ${LANDING_ENV} or data/landing)")
    run_parser.add_argument("--log-level", default="INFO", help="Dagster console log level (default: INFO)")
    run_parser.set_defaults(handler=run)
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
