"""Author pseudonyms and text scrubbing, applied before anything reaches analyst-facing tables.

dbt's DuckDB connection gets the same functions as SQL functions (orchestration/dbt_functions.py,
named in dbt_project/profiles.yml), so the SQL models, the annotation import and the tests share one
implementation: RE2 through Arrow, whose semantics on non-ASCII text are the ones dbt applies.
"""

import hashlib
import hmac
import warnings
from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from stigma_insights.settings import PSEUDONYM_KEY_ENV, pseudonym_key_setting

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


def pseudonym_key() -> bytes:
    key = pseudonym_key_setting()
    if not key:
        warnings.warn(
            f"{PSEUDONYM_KEY_ENV} is not set: using the public development key, fit only for the bundled sample data.",
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


def pseudonymise_post_key(post_key: str | None, key: bytes) -> str | None:
    """A stable, keyed stand-in for a post key (platform:kind:id): analysts can join and count posts
    but not open the original post, whose id would lead to its author."""
    if post_key is None or post_key == "":
        return None
    digest = hmac.new(key, b"post\0" + post_key.encode(), hashlib.sha256).hexdigest()
    return f"post_{digest[:24]}"


def scrub_texts(texts: pa.Array) -> pa.Array:
    """Replace emails, URLs, user and community mentions, @handles and phone numbers by tokens."""
    for pattern, token in SCRUB_PATTERNS:
        texts = pc.replace_substring_regex(texts, pattern=pattern, replacement=token)
    return texts


def pseudonymise_array(
    values: pa.Array, key: bytes, pseudonym: Callable[[str | None, bytes], str | None] = pseudonymise
) -> pa.Array:
    """`pseudonym` (an author's by default) of each value: the vectorised form dbt's SQL functions call."""
    return pa.array([pseudonym(value, key) for value in values.to_pylist()], pa.string())
