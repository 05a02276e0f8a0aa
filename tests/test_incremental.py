"""What makes nightly runs cost what is new: streamed loads, the embedding cache, incremental labels
and dbt models (checked against a full rebuild), the fast embedding backend, the benchmark generator."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pyarrow as pa
import pytest
import zstandard

from stigma_insights.assets.ingest import loader, readers
from stigma_insights.assets.ingest.formats import SOURCE_FORMATS
from stigma_insights.assets.labels.datasets import read_table
from stigma_insights.assets.labels.embedding import MiniLM
from stigma_insights.assets.labels.embedding_cache import (
    EmbeddingCache,
    export_starter_vectors,
    seed_from_starter_vectors,
    text_sha256,
)
from stigma_insights.assets.labels.multilingual import multilingual_model_id
from stigma_insights.assets.labels.store import label_new_posts
from stigma_insights.assets.labels.taxonomy import load_taxonomy
from stigma_insights.assets.privacy import scrub_texts
from stigma_insights.settings import BACKEND_ENV, MODEL_CACHE_ENV

from conftest import REPO_ROOT, minilm, public_post_key, run_everything, settings_for

sys.path.insert(0, str(REPO_ROOT / "bench"))
from generate_landing import generate  # noqa: E402


# -- streamed loading -----------------------------------------------------------------------------
def raw_and_rejects(conn, source_name):
    rows = conn.execute(
        f"select entity, record_id, record::varchar, source_position, content_sha256"
        f" from raw.{source_name} order by all"
    ).fetchall()
    rejects = conn.execute("select source_position, reason, original_text from raw.rejects order by all").fetchall()
    log = conn.execute(
        "select records_read, records_loaded, records_rejected, records_duplicate from raw.load_log"
    ).fetchall()
    return rows, rejects, log


@pytest.mark.parametrize("suffix", [".ndjson", ".zst"])
def test_a_file_read_in_many_small_blocks_loads_exactly_as_in_one(tmp_path, monkeypatch, suffix):
    long_text = "x" * 500  # longer than a block: a line spans several
    lines = [
        json.dumps(
            {
                "id": f"s{i}",
                "title": "t",
                "selftext": long_text if i % 7 == 0 else f"post {i}",
                "created_utc": 1767225600 + i,
            }
        ).encode()
        for i in range(60)
    ]
    lines[3] = lines[3].replace(b"post 3", "caf\u00e9".encode("cp1252"))  # invalid UTF-8
    lines[10] = lines[10][:40]  # cut off mid-record
    lines[20] = b""  # blank line
    lines[30] = lines[30] + b"\r"  # CRLF
    data = b"\n".join(lines + [lines[5]])  # a duplicate, and no newline at the end
    folder = tmp_path / "reddit_dump"
    folder.mkdir()
    (folder / f"RS{suffix}").write_bytes(zstandard.ZstdCompressor().compress(data) if suffix == ".zst" else data)

    results = {}
    for block_bytes in (readers.BLOCK_BYTES, 100):
        monkeypatch.setattr(readers, "BLOCK_BYTES", block_bytes)
        with duckdb.connect(str(tmp_path / f"blocks_{block_bytes}.duckdb")) as conn:
            loader.load_landing_folder(conn, SOURCE_FORMATS["reddit_dump"], folder)
            results[block_bytes] = raw_and_rejects(conn, "reddit_dump")
    one_block, small_blocks = results.values()
    assert small_blocks == one_block
    rows, rejects, log = small_blocks
    assert len(rows) == 57 and log == [(60, 57, 2, 1)]  # 59 non-blank lines and the duplicate
    assert [(position, reason) for position, reason, _ in rejects] == [
        ("line 11", "invalid JSON"),
        ("line 4", "invalid UTF-8 bytes"),
    ]


# -- embedding cache and incremental labels -------------------------------------------------------
def test_the_embedding_cache_computes_each_text_once_per_model(tmp_path):
    texts = ["I hide my diagnosis from my family.", "Therapy helped me.", "I hide my diagnosis from my family."]
    with duckdb.connect(str(tmp_path / "cache.duckdb")) as conn:
        first = EmbeddingCache(conn, minilm().model_id, minilm().embed)
        vectors = first.embed(texts)
        again = EmbeddingCache(conn, minilm().model_id, minilm().embed)
        cached = again.embed(texts)
        other_model = EmbeddingCache(conn, "another-model", minilm().embed)
        other_model.embed(texts[:2])
    assert (first.computed, first.hits) == (2, 0)  # the repeated text is embedded once
    assert (again.computed, again.hits) == (0, 3)
    assert other_model.computed == 2
    np.testing.assert_allclose(cached, vectors, atol=1e-6)
    np.testing.assert_allclose(vectors[:2], minilm().embed(texts[:2]), atol=1e-5)


def test_starter_vectors_seed_a_new_cache_once_and_cover_the_shipped_annotations(tmp_path):
    texts = ["I hide my diagnosis from my family.", "Therapy helped me."]
    with duckdb.connect(str(tmp_path / "first.duckdb")) as conn:
        EmbeddingCache(conn, minilm().model_id, minilm().embed).embed(texts)
        EmbeddingCache(conn, "another-model", lambda t: np.ones((len(t), 384))).embed(texts[:1])
        written = export_starter_vectors(conn, texts, tmp_path / "vectors")
    assert written == {minilm().model_id: 2, "another-model": 1}
    with duckdb.connect(str(tmp_path / "new.duckdb")) as conn:
        assert seed_from_starter_vectors(conn, tmp_path / "vectors") == 3
        assert seed_from_starter_vectors(conn, tmp_path / "vectors") == 0  # a re-run adds nothing
        seeded = EmbeddingCache(conn, minilm().model_id, minilm().embed)
        np.testing.assert_allclose(seeded.embed(texts), minilm().embed(texts), atol=1e-6)
    assert (seeded.computed, seeded.hits) == (0, 2)
    # The shipped files hold a vector of every starter text for the default CPU model and the multilingual
    # one: a changed starter set needs `stigma-insights annotate export-vectors` after a run.
    shipped = REPO_ROOT / "data" / "annotations" / "vectors"
    starter = read_table(REPO_ROOT / "data" / "annotations" / "reddit_stigma_dev.csv")
    hashes = {text_sha256(t) for t in scrub_texts(pa.array(starter["text"].str.strip(), pa.string())).to_pylist()}
    with duckdb.connect() as conn:
        shipped_hashes = dict(
            conn.execute(
                "select model_id, list(text_sha256) from read_parquet(?) group by all",
                [[str(p) for p in shipped.glob("*.parquet")]],
            ).fetchall()
        )
    for model_id in (minilm().model_id, multilingual_model_id()):
        assert set(shipped_hashes[model_id]) == hashes, model_id


POSTS = {
    "reddit:post:1": ("My parents say depression is a lack of faith, so I hide my therapy.", "available"),
    "reddit:post:2": ("My manager called me unreliable after I disclosed my bipolar diagnosis.", "available"),
    "tiktok:comment:3": ("how do i tell my family i need help??", "available"),
    "tiktok:comment:4": ("Best pizza in town, link in bio", "available"),
    "reddit:comment:5": (None, "deleted"),
}


def write_posts(conn, posts: dict) -> None:
    conn.execute("create schema if not exists intermediate")
    conn.execute(
        "create or replace table intermediate.int_posts_deduplicated"
        " (post_key varchar, text varchar, status varchar, country_code varchar)"
    )
    conn.executemany(
        "insert into intermediate.int_posts_deduplicated values (?, ?, ?, null)",
        [(key, text, status) for key, (text, status) in posts.items()],
    )


# Engines trained for these tests are the pipeline's, so they are kept where the pipeline keeps them.
ENGINES = REPO_ROOT / "data" / "models" / "engines"


def labels_of(conn):
    return conn.execute("select * exclude (labelled_at) from labels.post_labels order by post_key").fetchall()


def test_labels_are_computed_only_for_new_or_changed_posts(tmp_path):
    taxonomy = load_taxonomy()
    engines = tmp_path / "engines"  # trained here: the first run embeds the training texts too
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as conn:
        write_posts(conn, POSTS)
        first = label_new_posts(conn, taxonomy, engines, minilm(), batch_size=2, log=lambda _: None)
        labelled_first = labels_of(conn)
        second = label_new_posts(conn, taxonomy, engines, minilm(), log=lambda _: None)
        assert labels_of(conn) == labelled_first

        changed = dict(POSTS)
        changed["reddit:post:2"] = ("My coworkers now avoid me since I told them about my anxiety.", "available")
        changed["tiktok:comment:4"] = (None, "removed")
        write_posts(conn, changed)
        third = label_new_posts(conn, taxonomy, engines, minilm(), log=lambda _: None)
        after_change = labels_of(conn)

        new_version = dataclasses.replace(taxonomy, version="test-next")
        fourth = label_new_posts(conn, new_version, engines, minilm(), log=lambda _: None)
        versions = {v for (v,) in conn.execute("select distinct taxonomy_version from labels.post_labels").fetchall()}

    assert (first.labelled, first.kept, first.removed) == (4, 0, 0)
    assert first.embeddings_computed > 4  # the posts and the taxonomy's training texts
    assert (second.labelled, second.kept, second.embeddings_computed) == (0, 4, 0)
    assert (third.labelled, third.kept, third.removed, third.embeddings_computed) == (1, 2, 2, 1)
    assert [row[0] for row in after_change] == ["reddit:post:1", "reddit:post:2", "tiktok:comment:3"]
    assert after_change[0] == labelled_first[0] and after_change[2] == labelled_first[2]
    # A new taxonomy relabels everything, from cached embeddings only.
    assert (fourth.labelled, fourth.removed, fourth.embeddings_computed) == (3, 3, 0)
    assert versions == {"test-next"}


def test_a_labelling_run_stopped_after_a_batch_keeps_it_and_the_next_run_labels_only_the_rest(tmp_path):
    taxonomy = load_taxonomy()

    def stop_after_first_batch(line: str) -> None:
        if line.startswith("  labelled 2 of 4"):
            raise KeyboardInterrupt  # as a stop between two batches would

    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as conn:
        write_posts(conn, POSTS)
        with pytest.raises(KeyboardInterrupt):
            label_new_posts(conn, taxonomy, ENGINES, minilm(), batch_size=2, log=stop_after_first_batch)
        kept = labels_of(conn)
        rest = label_new_posts(conn, taxonomy, ENGINES, minilm(), batch_size=2, log=lambda _: None)
        final = labels_of(conn)

    assert len(kept) == 2
    assert (rest.labelled, rest.kept) == (2, 2)
    assert set(kept) <= set(final) and len(final) == 4


# -- incremental dbt models against a full rebuild ------------------------------------------------
def zeeschuimer_line(item: dict) -> str:
    return json.dumps(item) + "\n"


ORPHAN_COMMENT = {  # a TikTok comment collected before its video: it takes the video's region later
    "data": {
        "aweme_id": "7499999999999999999",
        "cid": "7499999999999999001",
        "create_time": 1772820000,
        "id": "7499999999999999001",
        "text": "my family says therapy is for weak people",
        "user": {"unique_id": "late_commenter"},
    },
    "source_platform": "tiktok-comments",
    "timestamp_collected": 1772830000000,
}
LATE_VIDEO = {
    "data": {
        "author": {"uniqueId": "late_creator"},
        "createTime": 1772810000,
        "id": "7499999999999999999",
        "desc": "Nobody at my office knows I take antidepressants #mentalhealth",
        "locationCreated": "NG",
    },
    "source_platform": "tiktok.com",
    "timestamp_collected": 1772840000000,
}

NEW_COMMENT_ON_AN_OLD_VIDEO = {  # its thread is not rebuilt: the region comes from the table's row of the video
    "data": {
        "aweme_id": "7400000000000025325",  # a sample video from South Korea
        "cid": "7499999999999999002",
        "create_time": 1772850000,
        "id": "7499999999999999002",
        "text": "in my country nobody talks about depression, my parents would be ashamed",
        "user": {"unique_id": "another_commenter"},
    },
    "source_platform": "tiktok-comments",
    "timestamp_collected": 1772860000000,
}


def run_job(warehouse: Path, landing: Path, refresh: bool = False) -> dg.ExecuteInProcessResult:
    from stigma_insights.orchestration.definitions import refresh_run_config

    result = run_everything(settings_for(warehouse, landing), run_config=refresh_run_config(refresh))
    assert result.success
    return result


def rows_except(conn, name: str, columns: str):
    return conn.execute(f"select * exclude ({columns}) from {name} order by post_key").fetchall()


@pytest.mark.slow
def test_incremental_runs_build_the_same_tables_as_a_full_refresh(session_settings, tmp_path):
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    shutil.copytree(REPO_ROOT / "data" / "landing", landing)
    (landing / "zeeschuimer" / "comments_first.ndjson").write_text(zeeschuimer_line(ORPHAN_COMMENT))
    run_job(warehouse, landing)

    # The next night: the video arrives, and a post is re-fetched with an edited text.
    (landing / "zeeschuimer" / "videos_later.ndjson").write_text(
        zeeschuimer_line(LATE_VIDEO) + zeeschuimer_line(NEW_COMMENT_ON_AN_OLD_VIDEO)
    )
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        (post,) = conn.execute(
            "select record from raw.reddit_dump where entity = 'submission' order by record_id limit 1"
        ).fetchone()
    edited = dict(
        json.loads(post),
        selftext="Edited: my family finally came to a therapy session with me.",
        retrieved_on=1799999999,
    )
    (landing / "reddit_dump" / "RS_refetch.ndjson").write_text(json.dumps(edited) + "\n")
    second = run_job(warehouse, landing)

    labels_event = [
        m for m in second.get_asset_materialization_events() if m.asset_key == dg.AssetKey(["labels", "post_labels"])
    ][0]
    # the edited post, the video and the new comment; the orphan comment's text is unchanged, so its labels stay
    assert labels_event.materialization.metadata["labelled_this_run"].value == 3

    full = tmp_path / "full_refresh.duckdb"
    shutil.copy(warehouse, full)
    run_job(full, landing, refresh=True)

    with duckdb.connect() as conn:
        conn.execute(f"attach '{warehouse}' as incremental (read_only)")
        conn.execute(f"attach '{full}' as rebuilt (read_only)")
        # Every label's and every empathy level's confidence: equal up to float noise from other batch sizes.
        confidences = [
            column
            for (column,) in conn.execute(
                "select column_name from duckdb_columns() where database_name = 'incremental'"
                " and table_name = 'fct_labelled_posts' and column_name like '%\\_confidence' escape '\\'"
                " and column_name <> 'language_confidence'"
            ).fetchall()
        ]
        assert len(confidences) == 7
        compared_apart = {  # run times differ by design; confidences are compared with a tolerance below
            "intermediate.int_posts_deduplicated": "refreshed_at",
            "marts.fct_labelled_posts": ", ".join(
                ["post_refreshed_at", "labelled_at", "fact_written_at", *confidences]
            ),
        }
        for name, columns in compared_apart.items():
            assert rows_except(conn, f"incremental.{name}", columns) == rows_except(conn, f"rebuilt.{name}", columns), (
                name
            )
        (largest_gap,) = conn.execute(
            f"select max(greatest({', '.join(f'abs(a.{c} - b.{c})' for c in confidences)}))"
            " from incremental.marts.fct_labelled_posts a join rebuilt.marts.fct_labelled_posts b using (post_key)"
        ).fetchone()
        orphan = conn.execute(
            "select region, country_code, relevance is not null from incremental.marts.fct_labelled_posts"
            " where post_key = ?",
            [public_post_key("tiktok:comment:7499999999999999001")],
        ).fetchone()
        new_comment = conn.execute(
            "select region, country_code from incremental.marts.fct_labelled_posts where post_key = ?",
            [public_post_key("tiktok:comment:7499999999999999002")],
        ).fetchone()
        edited_text = conn.execute(
            "select text from incremental.marts.fct_labelled_posts where post_key = ?",
            [public_post_key(f"reddit:post:{edited['id']}")],
        ).fetchone()
    assert largest_gap < 1e-5  # labels equal; confidences up to float noise from other batch sizes
    assert orphan == ("Sub-Saharan Africa", "NG", True)
    assert new_comment == ("East Asia", "KR")
    assert edited_text == (edited["title"] + "\n\n" + edited["selftext"],)


# -- the fast backend -----------------------------------------------------------------------------
def test_the_int8_onnx_backend_gives_embeddings_close_to_torch_and_later_loads_without_it(tmp_path, monkeypatch):
    from stigma_insights.assets.labels import embedding

    texts = [
        "My family says depression is a choice.",
        "I finally told my boss about my anxiety and she was kind.",
        "how do i find a therapist who speaks tagalog?",
    ]
    monkeypatch.setenv(BACKEND_ENV, "torch")
    reference = minilm().embed(texts)
    monkeypatch.setenv(MODEL_CACHE_ENV, str(tmp_path / "models"))  # a fresh export, not the cached one
    monkeypatch.setenv(BACKEND_ENV, "onnx-int8")
    fast = minilm().embed(texts)
    assert minilm().model_id.split("|")[1] == "onnx-int8"
    assert (tmp_path / "models" / f"all-MiniLM-L6-v2.{embedding.onnx_recipe()}.onnx").exists()
    assert (fast * reference).sum(axis=1).min() > 0.98  # one scale per matrix gave 0.87 on real posts
    # A vector is the text's own, whatever runs beside it: a nightly run labels as a full one would.
    for position, text in enumerate(texts):
        np.testing.assert_allclose(minilm().embed([text])[0], fast[position], atol=1e-6)
    beside_a_long_text = minilm().embed(texts[::-1] + ["an unrelated, much longer text " * 20])
    np.testing.assert_allclose(beside_a_long_text[:3], fast[::-1], atol=1e-6)
    # Once exported, a new process (the next labels step, a Ray actor) loads the model and its window
    # cutter from the cache folder: the same vectors, without torch or sentence-transformers. There `auto`
    # imports torch to ask for a GPU only where a GPU driver is loaded.
    loaded_fresh = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS_EMBEDS, json.dumps(texts)],
        env={**os.environ, MODEL_CACHE_ENV: str(tmp_path / "models"), BACKEND_ENV: "onnx-int8"},
        capture_output=True,
        text=True,
        check=True,
    )
    fresh = json.loads(loaded_fresh.stdout)
    np.testing.assert_allclose(np.array(fresh["vectors"]), fast, atol=1e-6)
    assert fresh["imported_to_embed"] == {"torch": False, "sentence_transformers": False}
    assert fresh["auto_imported_torch"] is any(Path(path).exists() for path in embedding.GPU_DRIVER_FILES)
    monkeypatch.setenv(BACKEND_ENV, "tensorflow")
    with pytest.raises(ValueError, match="choose one of auto, torch, onnx-int8"):
        minilm()


def test_the_model_id_follows_the_code_that_makes_vectors_with_nothing_to_bump_by_hand(monkeypatch):
    """An edited window length, export or encoder makes a new model id (so a new cache key and ONNX file):
    vectors of other code are never reused."""
    from stigma_insights.assets.labels import embedding

    settings = minilm().settings
    before, recipe = embedding.embedding_model_id(settings), embedding.onnx_recipe()
    assert embedding.embedding_model_id(settings) == before
    monkeypatch.setattr(embedding, "MAX_WINDOWS", embedding.MAX_WINDOWS + 1)
    assert embedding.embedding_model_id(settings) != before
    monkeypatch.undo()
    monkeypatch.setattr(embedding, "ONNX_INPUTS", ("input_ids", "attention_mask"))
    assert embedding.onnx_recipe() != recipe
    monkeypatch.undo()
    assert (embedding.embedding_model_id(settings), embedding.onnx_recipe()) == (before, recipe)


FRESH_PROCESS_EMBEDS = """
import json, sys
from stigma_insights.assets.labels.embedding import MiniLM, torch_device
from stigma_insights.settings import Settings
vectors = MiniLM(Settings.from_env().embedding).embed(json.loads(sys.argv[1])).tolist()
imported = {name: name in sys.modules for name in ("torch", "sentence_transformers")}
torch_device(None)  # what `auto` asks
print(json.dumps({"vectors": vectors, "imported_to_embed": imported, "auto_imported_torch": "torch" in sys.modules}))
"""


def test_texts_are_tokenised_once_into_windows_and_the_torch_backend_pools_them_as_sentence_transformers(
    monkeypatch,
):
    from stigma_insights.assets.labels import embedding

    monkeypatch.setenv(BACKEND_ENV, "torch")
    encoder = embedding.load_encoder(minilm().settings)
    tokenizer = embedding.load_sentence_transformer(minilm().settings).tokenizer
    tokenizer("x " * 400, truncation=True, max_length=16)  # the wrapper's settings must not reach the cutter
    sentence = "My family says depression is a choice, and I stopped telling them how I feel."
    long_text = "word " * 300  # one token per word: the windows are 254 and 46 words
    huge_text = "word " * (254 * embedding.MAX_WINDOWS + 500)
    windows = encoder.cutter.cut([sentence, "", long_text, huge_text])

    assert windows.owners.tolist() == [0, 1, 2, 2] + [3] * embedding.MAX_WINDOWS
    assert windows.sizes[:4].tolist() == [len(tokenizer(sentence, add_special_tokens=False)["input_ids"]), 0, 254, 46]
    ids, mask = windows.model_inputs(np.array([0, 1]))
    own_ids = tokenizer(sentence)["input_ids"]  # [CLS] ... [SEP], as the tokenizer adds them
    assert ids[0].tolist() == own_ids and mask[0].tolist() == [1] * len(own_ids)
    assert ids[1].tolist() == [tokenizer.cls_token_id, tokenizer.sep_token_id] + [0] * (len(own_ids) - 2)
    assert mask[1].tolist() == [1, 1] + [0] * (len(own_ids) - 2)
    batches = list(windows.batches(tokens_per_batch=600))
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(windows)))  # each window once
    assert all(len(rows) * (windows.sizes[rows].max() + 2) <= 600 or len(rows) == 1 for rows in batches)

    plain = embedding.load_sentence_transformer(minilm().settings)
    vectors = minilm().embed([sentence, long_text])
    np.testing.assert_allclose(vectors[0], plain.encode([sentence], normalize_embeddings=True)[0], atol=1e-5)
    first, second = plain.encode(["word " * 254, "word " * 46], normalize_embeddings=True)
    pooled = 254 * first + 46 * second  # token-weighted mean of the windows
    np.testing.assert_allclose(vectors[1], pooled / np.linalg.norm(pooled), atol=1e-5)
    monkeypatch.setattr(encoder, "texts_per_step", 1)  # one text per step: each pooled into its own row
    np.testing.assert_allclose(minilm().embed([sentence, long_text]), vectors, atol=1e-6)


# -- the benchmark's generator --------------------------------------------------------------------
def test_generated_landing_files_load_in_every_platform_format(tmp_path):
    posts = [text for text, _ in POSTS.values() if text] + [
        "I told my sister about my panic attacks. She said I was being dramatic! Now I keep it to myself.",
        "Does anyone else hide their meds at work? My boss found them once. It was awful.",
    ]
    counts = generate(400, tmp_path / "landing", seed=3, texts=posts)
    generated = {key.split("/")[0] for key in counts}
    assert generated == set(SOURCE_FORMATS) - {"generic"}  # the platforms' own formats, not our generic table
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as conn:
        for source in (SOURCE_FORMATS[name] for name in sorted(generated)):
            results = loader.load_landing_folder(conn, source, tmp_path / "landing" / source.name)
            assert results and all(r.status == "loaded" for r in results), source.name
        loaded = dict(conn.execute("select source_format, sum(records_loaded) from raw.load_log group by 1").fetchall())
        reasons = {r for (r,) in conn.execute("select distinct reason from raw.rejects").fetchall()}
    expected = {}
    for key, n in counts.items():
        expected[key.split("/")[0]] = expected.get(key.split("/")[0], 0) + n
    for source_name, n in expected.items():
        assert n * 0.99 <= loaded[source_name] <= n, source_name
    assert reasons <= {"invalid JSON"}


def test_posts_not_in_english_are_labelled_by_the_multilingual_model_and_routing_off_relabels_them(tmp_path):
    """English (and undetermined) posts go to MiniLM, the others to multilingual-e5-small with engines
    trained on the same training set embedded by E5; a change of routing relabels the routed posts only."""
    posts = {
        **POSTS,
        "reddit:post:6": ("부모님은 정신과에 가는 게 집안 망신이라고 하셔서 아무에게도 말 못 했어요.", "available"),
        "tiktok:comment:7": (
            "Mis padres dicen que ir al psicólogo es de locos, por eso nunca les conté nada.",
            "available",
        ),
    }
    taxonomy = load_taxonomy()
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as conn:
        write_posts(conn, posts)
        routing_on = MiniLM(dataclasses.replace(minilm().settings, multilingual="non-english"))
        routed = label_new_posts(conn, taxonomy, tmp_path / "engines", routing_on, log=lambda _: None)
        models = dict(conn.execute("select post_key, embedding_model from labels.post_labels").fetchall())
        multilingual = {key for key, model in models.items() if model == multilingual_model_id()}
        assert multilingual == {"reddit:post:6", "tiktok:comment:7"}
        assert all(models[key] == minilm().model_id for key in models.keys() - multilingual)
        assert sorted(routed.labelled_by_route.values()) == [2, 4]
        e5_vectors = conn.execute(
            "select count(*) from labels.embedding_cache where model_id = ?", [multilingual_model_id()]
        ).fetchone()[0]
        assert e5_vectors > 2  # the two posts and the training set, embedded by E5

        routing_off = MiniLM(dataclasses.replace(minilm().settings, multilingual="off"))
        off = label_new_posts(conn, taxonomy, tmp_path / "engines", routing_off, log=lambda _: None)
        assert (off.removed, off.labelled, off.kept) == (2, 2, 4)
        models = dict(conn.execute("select post_key, embedding_model from labels.post_labels").fetchall())
        assert all(model == minilm().model_id for model in models.values())
