"""Author pseudonyms and text scrubbing, applied before anything reaches analyst-facing tables.

The same functions are registered in dbt's DuckDB connection (the `Plugin` below, named in
dbt_project/profiles.yml), so the SQL models and the tests share one implementation.
"""

import hashlib
import hmac
import os
import re
import warnings

import pyarrow as pa
import pyarrow.compute as pc
from dbt.adapters.duckdb.plugins import BasePlugin

PSEUDONYM_KEY_ENV = "STIGMA_INSIGHTS_PSEUDONYM_KEY"
# Only for the bundled sample data: anyone can recompute these pseudonyms.
DEVELOPMENT_PSEUDONYM_KEY = "stigma-insights-DEVELOPMENT-KEY-not-for-real-data"

# Applied in order: emails before @handles, URLs before u/ and r/ mentions inside them.
SCRUB_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", "[email]"),
    (r"(?i)\b(?:https?://|www\.)\S+", "[url]"),
    (r"(?i)(?:^|\b|/)u/[A-Za-z0-9_-]{2,}", "[user]"),
    (r"(?i)(?:^|\b|/)r/[A-Za-z0-9_]{2,}", "[community]"),
    (r"@[A-Za-z0-9_.]{2,}", "[user]"),
    (r"\+?\d[\d\s().-]{7,}\d", "[phone]"),
)
_COMPILED_PATTERNS = tuple((re.compile(pattern), token) for pattern, token in SCRUB_PATTERNS)


def pseudonym_key() -> bytes:
    key = os.environ.get(PSEUDONYM_KEY_ENV)
    if not key:
        warnings.warn(
            f"{PSEUDONYM_KEY_ENV} is not set: using the public development key, fit only for the "
            "bundled sample data.",
            stacklevel=2,
        )
        key = DEVELOPMENT_PSEUDONYM_KEY
    return key.encode()


def pseudonymise(handle: str | None, key: bytes) -> str | None:
    """A stable, keyed pseudonym: equal handles give equal ids; without the key it cannot be reversed."""
    if handle is None or handle == "":
        return None
    digest = hmac.new(key, handle.strip().lower().encode(), hashlib.sha256).hexdigest()
    return f"author_{digest[:24]}"


def scrub_text(text: str | None) -> str | None:
    """Replace emails, URLs, user and community mentions, @handles and phone numbers by tokens."""
    if text is None:
        return None
    for pattern, token in _COMPILED_PATTERNS:
        text = pattern.sub(token, text)
    return text


def _scrub_arrow(texts: pa.Array) -> pa.Array:
    # RE2 in Arrow runs the same patterns vectorised; the patterns avoid Python-only syntax.
    for pattern, token in SCRUB_PATTERNS:
        texts = pc.replace_substring_regex(texts, pattern=pattern, replacement=token)
    return texts


class Plugin(BasePlugin):
    def configure_connection(self, conn):
        key = pseudonym_key()
        conn.create_function(
            "pseudonymise",
            lambda handles: pa.array([pseudonymise(h, key) for h in handles.to_pylist()], pa.string()),
            ["VARCHAR"],
            "VARCHAR",
            type="arrow",
        )
        conn.create_function("scrub_text", _scrub_arrow, ["VARCHAR"], "VARCHAR", type="arrow")
