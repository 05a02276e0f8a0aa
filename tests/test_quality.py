"""The GX suites read a table in parts: the outcome is the one of reading it whole."""

import duckdb
import pandas as pd

from stigma_insights.assets.labels.empathy import MECHANISMS
from stigma_insights.assets.labels.taxonomy import load_taxonomy
from stigma_insights.quality import checks
from stigma_insights.quality.suites import labelled_posts_suite, validate


def labelled_posts(rows: int) -> pd.DataFrame:
    taxonomy = load_taxonomy()
    frame = pd.DataFrame({"post_key": [f"post-{i}" for i in range(rows)], "text": ["a post"] * rows})
    for dimension in taxonomy.dimensions:
        frame[dimension.name] = dimension.class_names[0]
        frame[f"{dimension.name}_confidence"] = 0.5
    for mechanism in MECHANISMS:
        frame[f"empathy_{mechanism}"] = "weak"
        frame[f"empathy_{mechanism}_confidence"] = 0.5
    return frame


def test_a_table_validated_in_parts_gives_the_outcome_of_validating_it_whole(monkeypatch):
    monkeypatch.setattr(checks, "ROWS_PER_FRAME", 2048)  # parts of 2,048 rows
    suite = lambda: labelled_posts_suite(load_taxonomy())  # noqa: E731
    posts = labelled_posts(5_000)
    posts.loc[[10, 2_100, 4_500], "stigma_domain"] = "banana"  # one bad row in each part
    posts.loc[3_000, "intent_confidence"] = 1.7
    posts.loc[4_999, "text"] = ""
    posts.loc[1_000, "empathy_explorations"] = "kind"  # not an EPITOME level
    conn = duckdb.connect()
    conn.register("posts", posts)

    parts = list(checks.frames_of(conn.execute("select * from posts")))
    in_parts = validate(iter(parts), suite, "post_key")
    whole = validate(posts, suite, "post_key")

    assert [len(part) for part in parts] == [2048, 2048, 904]
    assert in_parts.row_count == whole.row_count == 5_000
    assert not in_parts.success and not whole.success
    for part_result, whole_result in zip(in_parts.results, whole.results, strict=True):
        for field in ("expectation", "column", "success", "unexpected_count"):
            assert part_result[field] == whole_result[field]
        assert set(part_result["failing_keys"]) == set(whole_result["failing_keys"])
    failing = {(r["column"], r["expectation"]): r for r in in_parts.failed}
    assert failing["stigma_domain", "expect_column_values_to_be_in_set"]["failing_keys"] == [
        "post-10",
        "post-2100",
        "post-4500",
    ]
    assert failing["text", "expect_column_value_lengths_to_be_between"]["unexpected_count"] == 1
    assert failing["empathy_explorations", "expect_column_values_to_be_in_set"]["failing_keys"] == ["post-1000"]
    assert len(failing) == 4

    empty = list(checks.frames_of(conn.execute("select * from posts where false")))
    assert [len(part) for part in empty] == [0]
    outcome = validate(iter(empty), suite, "post_key")
    assert outcome.success and outcome.row_count == 0 and outcome.results
