"""Pseudonyms and scrubbing: the functions dbt registers and the annotation import applies."""

import pyarrow as pa
import pytest

from stigma_insights.assets.privacy import pseudonymise, pseudonymise_post_key, scrub_texts

KEY = b"test-key"


def test_pseudonyms_are_stable_keyed_and_not_the_handle():
    first = pseudonymise("Quiet_Owl7", KEY)
    assert first == pseudonymise("quiet_owl7", KEY)  # Reddit handles are case-insensitive
    assert first != pseudonymise("quiet_owl8", KEY)
    assert first != pseudonymise("Quiet_Owl7", b"another-key")
    assert "owl" not in first and first.startswith("author_")
    assert pseudonymise(None, KEY) is None and pseudonymise("", KEY) is None


def test_post_keys_become_keyed_pseudonyms_that_hide_the_platform_id():
    first = pseudonymise_post_key("reddit:post:x3bnc6", KEY)
    assert first == pseudonymise_post_key("reddit:post:x3bnc6", KEY) and first.startswith("post_")
    assert "x3bnc6" not in first
    assert first != pseudonymise_post_key("reddit:post:X3BNC6", KEY)  # ids are case-sensitive
    assert first != pseudonymise_post_key("reddit:post:x3bnc6", b"another-key")
    assert first.removeprefix("post_") != pseudonymise("reddit:post:x3bnc6", KEY).removeprefix("author_")
    assert pseudonymise_post_key(None, KEY) is None


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        ("mail me at jane.doe+x@example.org ok", "mail me at [email] ok"),
        ("see https://example.com/a?b=1 and www.foo.org", "see [url] and [url]"),
        ("thanks u/Some_User and /u/other-one", "thanks [user] and [user]"),
        ("posted in r/mentalhealth", "posted in [community]"),
        ("follow @creator.name now", "follow [user] now"),
        ("call +63 917 123 4567 today", "call [phone] today"),
        ("I (24F) am 24 years old", "I (24F) am 24 years old"),
    ],
)
def test_scrub_replaces_contact_details_and_mentions(text, scrubbed):
    assert scrub_texts(pa.array([text, None])).to_pylist() == [scrubbed, None]
