"""The tables the Python steps own, in one place: each one's DDL. dbt reads the warehouse's as sources
(dbt_project/models/staging/__sources.yml for raw, models/marts/_label_sources.yml for labels).

Raw tables share one shape, whatever the source format (RAW_TABLE_DDL). Not here: the label tables whose
columns follow the taxonomy (labels.post_labels, label_error_rates, label_classes), written whole from
frames by the labels step (assets/labels/store.py). The collectors' state is kept in a DuckDB file of
its own per API, beside the warehouse, not in it.
"""

# -- raw: what the loaders landed, the ledger of every file and the rejected records --------------------
RAW_LEDGER_DDL = """
create schema if not exists raw;
create table if not exists raw.load_log (
    source_format varchar not null,
    source_file varchar not null,
    file_sha256 varchar not null,
    status varchar not null,          -- loaded | refused
    refusal_reason varchar,
    records_read bigint not null,
    records_loaded bigint not null,
    records_rejected bigint not null,
    records_duplicate bigint not null,
    loaded_at timestamptz not null
);
create table if not exists raw.rejects (
    source_format varchar not null,
    source_file varchar not null,
    source_position varchar not null,
    reason varchar not null,
    original_text varchar,
    original_sha256 varchar not null,
    loaded_at timestamptz not null
);
"""


RAW_TABLE_DDL = """
create table if not exists {table} (
    entity varchar not null,
    record_id varchar not null,
    record json not null,
    source_file varchar not null,
    source_position varchar not null,
    content_sha256 varchar not null,
    loaded_at timestamptz not null
)
"""


# -- labels: people's annotations, the embedding cache, reply empathy, themes ----------------------------
ANNOTATIONS_TABLE = "labels.annotations"
ANNOTATIONS_DDL = f"""
create schema if not exists labels;
create table if not exists {ANNOTATIONS_TABLE} (
    post_key varchar not null,
    dimension varchar not null,
    label varchar not null,
    annotator varchar not null,
    sampling varchar not null,
    taxonomy_version varchar not null,
    text varchar not null,
    source_file varchar not null,
    imported_at timestamptz not null
    -- one row per (post_key, dimension, annotator), kept so by the import's merge (DuckLake has no keys)
)
"""


CACHE_TABLE = "labels.embedding_cache"
CACHE_DDL = f"""
create schema if not exists labels;
create table if not exists {CACHE_TABLE} (
    model_id varchar not null,
    text_sha256 varchar not null,
    embedding float[] not null,  -- EMBEDDING_DIM values; a list, not float[N]: DuckLake has no fixed-size arrays
    embedded_at timestamptz not null default current_timestamp
)
"""


REPLY_EMPATHY_TABLE = "labels.reply_empathy"


def reply_empathy_ddl(mechanisms: tuple[str, ...]) -> str:
    """Per reply, a level (none / weak / strong), confidence and uncertain flag per empathy mechanism."""
    levels = ", ".join(
        f"empathy_{m} varchar, empathy_{m}_confidence double, empathy_{m}_is_uncertain boolean" for m in mechanisms
    )
    return f"""
create schema if not exists labels;
create table if not exists {REPLY_EMPATHY_TABLE} (
    post_key varchar not null,  -- the reply
    parent_key varchar,  -- what it answers, when that is in the warehouse
    context varchar not null,  -- pair | reply_only | language_not_supported
    reply_sha256 varchar not null,
    parent_sha256 varchar,
    engines_sha256 varchar not null,
    {levels},
    labelled_at timestamptz not null
)
"""


THEMES_TABLE = "labels.themes"
POST_THEMES_TABLE = "labels.post_themes"
THEMES_DDL = f"""
create schema if not exists labels;
create table if not exists {THEMES_TABLE} (
    theme_id integer not null,
    stigma_domain varchar not null,
    embedding_model varchar not null,
    n_posts integer not null,
    keywords varchar[] not null,
    name varchar,  -- from theme_names.yaml, where a researcher named the theme
    centroid float[] not null,  -- EMBEDDING_DIM values (DuckLake has no fixed-size arrays)
    found_at timestamptz not null
);
create table if not exists {POST_THEMES_TABLE} (
    post_key varchar not null,
    stigma_domain varchar not null,
    theme_id integer not null,
    assigned_at timestamptz not null
)
"""


# -- the collectors' state (a DuckDB file per API, beside the warehouse) ----------------------------------
COLLECT_STATE_DDL = """
create schema if not exists collect;
create table if not exists collect.state (
    source varchar not null,
    query_key varchar not null,
    state json not null,
    updated_at timestamptz not null,
    primary key (source, query_key)
);
create table if not exists collect.quota (
    source varchar not null,
    day date not null,
    requests bigint not null,
    records bigint not null,
    primary key (source, day)
);
-- Set when the platform refused a request for the day's quota: nothing more is sent that day.
alter table collect.quota add column if not exists refused boolean default false
"""
