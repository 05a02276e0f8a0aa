"""The dbt-duckdb plugin (named in dbt_project/profiles.yml) that gives dbt's connection the privacy functions.

`pseudonymise(handle)`, `pseudonymise_post_key(post_key)` and `scrub_text(text)` in SQL run the tested
Python of assets/privacy.py.
"""

from dbt.adapters.duckdb.plugins import BasePlugin

from stigma_insights.assets.privacy import pseudonym_key, pseudonymise_array, pseudonymise_post_key, scrub_texts


class Plugin(BasePlugin):
    def configure_connection(self, conn):
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
