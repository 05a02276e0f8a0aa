"""The dbt-duckdb plugin (named in dbt_project/profiles.yml) that gives dbt's connection the text functions.

`pseudonymise(handle)`, `pseudonymise_post_key(post_key)` and `scrub_text(text)` in SQL run the tested
Python of assets/privacy.py; `self_disclosed_age(text)`, `self_disclosed_gender(text)` and `age_band(age)`
that of assets/disclosure.py. On a lake warehouse it also loads the DuckLake extensions from their wheels
(and the S3 secret) before dbt-duckdb attaches the lake (the profile's `lake` target).
"""

import os

from dbt.adapters.duckdb.plugins import BasePlugin

from stigma_insights.assets.disclosure import age_bands, self_disclosed_ages, self_disclosed_genders
from stigma_insights.assets.privacy import pseudonym_key, pseudonymise_array, pseudonymise_post_key, scrub_texts
from stigma_insights.lake import load_lake_extensions
from stigma_insights.settings import LAKE_DATA_PATH_ENV, LAKE_ENV, LakeSettings


class Plugin(BasePlugin):
    def configure_connection(self, conn):
        if catalog := os.environ.get(LAKE_ENV):
            load_lake_extensions(conn, LakeSettings(catalog, os.environ.get(LAKE_DATA_PATH_ENV, "")))
        key = pseudonym_key()
        conn.create_function(
            "pseudonymise", lambda handles: pseudonymise_array(handles, key), ["VARCHAR"], "VARCHAR", type="arrow"
        )
        conn.create_function(
            "pseudonymise_post_key",
            lambda keys: pseudonymise_array(keys, key, pseudonymise_post_key),
            ["VARCHAR"],
            "VARCHAR",
            type="arrow",
        )
        conn.create_function("scrub_text", scrub_texts, ["VARCHAR"], "VARCHAR", type="arrow")
        # These answer NULL where nothing is disclosed: DuckDB must be told ("special" null handling).
        for name, function, argument_type, result_type in (
            ("self_disclosed_age", self_disclosed_ages, "VARCHAR", "INTEGER"),
            ("self_disclosed_gender", self_disclosed_genders, "VARCHAR", "VARCHAR"),
            ("age_band", age_bands, "INTEGER", "VARCHAR"),
        ):
            conn.create_function(name, function, [argument_type], result_type, type="arrow", null_handling="special")
