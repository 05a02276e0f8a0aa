"""Publish the analyst-facing marts to a separate DuckDB file, swapped in atomically.

Analysts open the published file read-only: they never contend for the warehouse's single writer
lock, and a reader sees either the previous complete copy or the new one, never a half-run.
"""

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from stigma_insights.lake import sql_string

ANALYST_SCHEMA = "marts"
PUBLICATION_TABLE = "publication"  # one row: when and by which run the copy was made, with its checks
# In the aggregates, a count of posts or replies below this is withheld (null) in the published copy: a
# group that small could point at one person. Counts of communities (n_subreddits) are not of people.
MIN_PUBLISHED_COUNT = 10
AGGREGATE_PREFIX = "agg_"
NOT_PEOPLE_COUNTS = {"n_subreddits"}
WITHHELD_FLAG = "has_withheld_counts"
WITHHELD_NOTE = f" Withheld (null) in the published copy where below {MIN_PUBLISHED_COUNT}."


# What the published figures come from, by the bytes of the files the warehouse loaded.
BUNDLED_SAMPLE, OWN_DATA, OWN_DATA_WITH_SAMPLE = "bundled sample", "own data", "own data and the bundled sample"


@dataclass(frozen=True)
class Publication:
    dagster_run_id: str
    checks_passed: int
    checks_failed: int
    failed_checks: str  # asset:check names, comma-separated ('' when every check passed)
    data_source: str  # BUNDLED_SAMPLE, OWN_DATA or OWN_DATA_WITH_SAMPLE


PUBLICATION_DESCRIPTION = "When, by which Dagster run and after which checks this copy was published."
PUBLICATION_COLUMNS = {
    "published_at": ("timestamptz", "When this copy was published."),
    "dagster_run_id": ("varchar", "The Dagster run that published it (look it up in the Dagster UI)."),
    "checks_passed": ("integer", "Data-quality checks (great-expectations suites, dbt tests) passed in that run."),
    "checks_failed": ("integer", "Checks that failed in that run (a failed blocking check stops publication)."),
    "failed_checks": ("varchar", "Names of the failed checks (asset:check), comma-separated; empty when none."),
    "data_source": (
        "varchar",
        f"What the figures come from: '{BUNDLED_SAMPLE}' (the sample posts shipped with stigma-insights, written for"
        f" it: not real data), '{OWN_DATA}' or '{OWN_DATA_WITH_SAMPLE}' (told by the bytes of the files loaded).",
    ),
    "model_names": (
        "varchar",
        "The labelling models and engines of the published labels (fct model_name), ' | '-joined.",
    ),
    "taxonomy_versions": ("varchar", "The taxonomy versions of the published labels, comma-separated."),
    "previous_published_at": ("timestamptz", "When the copy this one replaced was published (null: the first)."),
    "previous_model_names": ("varchar", "model_names of the copy this one replaced."),
    "previous_taxonomy_versions": ("varchar", "taxonomy_versions of the copy this one replaced."),
}
# The headline figures before and after: a reader of two reports can tell a change in the data from a change in
# the method (the ids in the publication row).
CHANGES_TABLE = "changes_since_last_publication"
CHANGES_DESCRIPTION = (
    "The quoted shares per platform, and per platform and kind, in this copy and in the one it replaced (null"
    " before: a new figure, or the first publication), with the change in points of share."
)
HEADLINE_GROUPINGS = ("platform", "platform_kind")
HEADLINE_MOVE = 0.01  # a quoted share that moved this much (a point of share) has changed
CHANGES_COLUMNS = {
    "grouping": "platform or platform_kind.",
    "group_value": "The group (reddit, tiktok / comment, ...).",
    "dimension": "Taxonomy dimension.",
    "label": "Label on that dimension.",
    "share_before": "The quoted share in the copy this one replaced.",
    "share_after": "The quoted share in this copy.",
    "figure_before": "raw or adjusted, before.",
    "figure_after": "raw or adjusted, now.",
    "change": "share_after - share_before.",
    "has_changed": f"True where the figure is new, changed kind, or moved by {HEADLINE_MOVE:.0%} of share or more.",
}


def data_source(conn: duckdb.DuckDBPyConnection, bundled_sample: Path) -> str:
    """Whether the warehouse holds only the bundled sample's files, none of them, or both. A loaded file is the
    sample's when its bytes are a shipped file's, or when it is a shipped file (same path) of an earlier release."""
    shipped = [path for path in bundled_sample.rglob("*") if path.is_file()]
    sample_bytes = {hashlib.sha256(path.read_bytes()).hexdigest() for path in shipped}
    sample_paths = {str(path.resolve()) for path in shipped}
    loaded = conn.execute("select distinct file_sha256, source_file from raw.load_log").fetchall()
    is_sample = [sha in sample_bytes or str(Path(file).resolve()) in sample_paths for sha, file in loaded]
    if is_sample and all(is_sample):
        return BUNDLED_SAMPLE
    return OWN_DATA_WITH_SAMPLE if any(is_sample) else OWN_DATA


def publish_marts(conn: duckdb.DuckDBPyConnection, target: Path, publication: Publication) -> dict[str, int]:
    """Copy every table of the marts schema into `target` (built beside it, then renamed over it), with
    a publication table saying when, by which run and after which checks."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.building")
    staging.unlink(missing_ok=True)
    tables = [
        row[0]
        for row in conn.execute(
            "select table_name from duckdb_tables() where schema_name = ? and database_name = current_database()"
            " order by table_name",
            [ANALYST_SCHEMA],
        ).fetchall()
    ]
    previous = _previous_copy(conn, target)
    conn.execute(f"attach '{staging}' as published")
    try:
        conn.execute(f"create schema published.{ANALYST_SCHEMA}")
        withheld = {table: _people_counts(conn, table) for table in tables if table.startswith(AGGREGATE_PREFIX)}
        for table in tables:
            conn.execute(
                f"create table published.{ANALYST_SCHEMA}.{table} as"
                f" select {_withholding_select(withheld.get(table, []))} from {ANALYST_SCHEMA}.{table}"
            )
        _copy_comments(conn, tables, withheld)
        _write_publication(conn, publication, previous)
        _write_changes(conn, previous)
        tables += [PUBLICATION_TABLE, CHANGES_TABLE]
        counts = {
            table: conn.execute(f"select count(*) from published.{ANALYST_SCHEMA}.{table}").fetchall()[0][0]
            for table in tables
        }
    finally:
        conn.execute("detach published")
        if previous:
            conn.execute(f"detach {previous}")
    os.replace(staging, target)  # atomic on one file system: readers see the old file or the new one
    return counts


def change_summary(published: Path) -> dict[str, str | int | bool]:
    """What changed since the copy the published one replaced: for the publish asset's metadata."""
    with duckdb.connect(str(published), read_only=True) as conn:
        [(previous, method_changed)] = conn.execute(
            "select previous_published_at::varchar, model_names is distinct from previous_model_names"
            " or taxonomy_versions is distinct from previous_taxonomy_versions"
            f" from {ANALYST_SCHEMA}.{PUBLICATION_TABLE}"
        ).fetchall()
        [(changed,)] = conn.execute(
            f"select count(*) filter (where has_changed) from {ANALYST_SCHEMA}.{CHANGES_TABLE}"
        ).fetchall()
    if previous is None:
        return {"previous_published_at": "none: the first publication"}
    return {"previous_published_at": previous, "headline_figures_changed": changed, "method_changed": method_changed}


def _previous_copy(conn: duckdb.DuckDBPyConnection, target: Path) -> str | None:
    """The copy about to be replaced, attached read-only as `previous`; None when there is none to compare with
    (the first publication, or a copy from a version without quoted shares or a publication row)."""
    if not target.exists():
        return None
    conn.execute(f"attach {sql_string(str(target))} as previous (read_only)")
    [(found,)] = conn.execute(
        "select count(*) from duckdb_columns() where database_name = 'previous' and schema_name = ?"
        " and ((table_name = 'agg_adjusted_label_shares' and column_name = 'quoted_share')"
        " or (table_name = ? and column_name = 'model_names'))",
        [ANALYST_SCHEMA, PUBLICATION_TABLE],
    ).fetchall()
    if found == 2:
        return "previous"
    conn.execute("detach previous")
    return None


def _write_changes(conn: duckdb.DuckDBPyConnection, previous: str | None) -> None:
    new = f"published.{ANALYST_SCHEMA}.agg_adjusted_label_shares"
    old = f"{previous}.{ANALYST_SCHEMA}.agg_adjusted_label_shares" if previous else f"(select * from {new} where false)"
    table = f"published.{ANALYST_SCHEMA}.{CHANGES_TABLE}"
    conn.execute(
        f"""create table {table} as
            select grouping, group_value, dimension, label,
                   before.quoted_share as share_before, after.quoted_share as share_after,
                   before.quoted_figure as figure_before, after.quoted_figure as figure_after,
                   after.quoted_share - before.quoted_share as change,
                   before.quoted_share is null or abs(change) >= $move
                       or before.quoted_figure is distinct from after.quoted_figure as has_changed
            from {new} as after
            left join {old} as before using (grouping, group_value, dimension, label)
            where grouping in (select unnest($groupings))
            order by all""",
        {"groupings": list(HEADLINE_GROUPINGS), "move": HEADLINE_MOVE},
    )
    conn.execute(f"comment on table {table} is {sql_string(CHANGES_DESCRIPTION)}")
    for column, description in CHANGES_COLUMNS.items():
        conn.execute(f"comment on column {table}.{column} is {sql_string(description)}")


def _people_counts(conn: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """The integer `n_*` columns of an aggregate that count posts or replies (people's writing)."""
    return [
        column
        for (column,) in conn.execute(
            "select column_name from duckdb_columns() where schema_name = ? and table_name = ?"
            " and database_name = current_database() and column_name like 'n\\_%' escape '\\'"
            " and data_type in ('BIGINT', 'INTEGER', 'HUGEINT') order by column_index",
            [ANALYST_SCHEMA, table],
        ).fetchall()
        if column not in NOT_PEOPLE_COUNTS
    ]


def _withholding_select(counts: list[str]) -> str:
    """Every column, with each count below MIN_PUBLISHED_COUNT (but not 0) nulled and a flag saying so."""
    if not counts:
        return "*"
    small = [f"{c} between 1 and {MIN_PUBLISHED_COUNT - 1}" for c in counts]
    nulled = ", ".join(f"case when {test} then null else {c} end as {c}" for c, test in zip(counts, small, strict=True))
    return f"* replace ({nulled}), coalesce({' or '.join(small)}, false) as {WITHHELD_FLAG}"


def _copy_comments(conn: duckdb.DuckDBPyConnection, tables: list[str], withheld: dict[str, list[str]]) -> None:
    """The dbt descriptions (persisted as comments) go with the tables: analysts read them in duckdb_columns().
    Withheld counts say so in their comment, and the flag has its own."""
    target = f"published.{ANALYST_SCHEMA}"
    for table, comment in conn.execute(
        "select table_name, comment from duckdb_tables() where schema_name = ? and database_name = current_database()"
        " and comment is not null",
        [ANALYST_SCHEMA],
    ).fetchall():
        conn.execute(f"comment on table {target}.{table} is {sql_string(comment)}")
    for table, column, comment in conn.execute(
        "select table_name, column_name, comment from duckdb_columns() where schema_name = ?"
        " and database_name = current_database() and comment is not null",
        [ANALYST_SCHEMA],
    ).fetchall():
        if table in tables:
            note = WITHHELD_NOTE if column in withheld.get(table, []) else ""
            conn.execute(f'comment on column {target}.{table}."{column}" is {sql_string(comment + note)}')
    for table, counts in withheld.items():
        if counts:
            flag_comment = f"True where a count of this row ({', '.join(counts)}) is withheld:{WITHHELD_NOTE}"
            conn.execute(f"comment on column {target}.{table}.{WITHHELD_FLAG} is {sql_string(flag_comment)}")


def _write_publication(conn: duckdb.DuckDBPyConnection, publication: Publication, previous: str | None) -> None:
    table = f"published.{ANALYST_SCHEMA}.{PUBLICATION_TABLE}"
    columns = ", ".join(f"{name} {kind}" for name, (kind, _) in PUBLICATION_COLUMNS.items())
    conn.execute(f"create table {table} ({columns})")
    before = (
        f"(select published_at, model_names, taxonomy_versions from {previous}.{ANALYST_SCHEMA}.{PUBLICATION_TABLE})"
        if previous
        else "(select null::timestamptz as published_at, null as model_names, null as taxonomy_versions)"
    )
    conn.execute(
        f"""insert into {table}
            select now(), $run, $passed, $failed, $failed_checks, $source,
                   (select string_agg(distinct model_name, ' | ' order by model_name)
                    from published.{ANALYST_SCHEMA}.fct_labelled_posts),
                   (select string_agg(distinct taxonomy_version, ', ' order by taxonomy_version)
                    from published.{ANALYST_SCHEMA}.fct_labelled_posts),
                   before.published_at, before.model_names, before.taxonomy_versions
            from {before} as before""",
        {
            "run": publication.dagster_run_id,
            "passed": publication.checks_passed,
            "failed": publication.checks_failed,
            "failed_checks": publication.failed_checks,
            "source": publication.data_source,
        },
    )
    conn.execute(f"comment on table {table} is {sql_string(PUBLICATION_DESCRIPTION)}")
    for name, (_, description) in PUBLICATION_COLUMNS.items():
        conn.execute(f"comment on column {table}.{name} is {sql_string(description)}")
