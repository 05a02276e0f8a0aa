"""Reply empathy (EPITOME's mechanisms) and engine artifacts that cannot run code: without Dagster.

Hand-written pairs here prove the plumbing (training, pairing, saving, refusing); the engines' quality
is measured on real replies by `bench/empathy_cv.py` and the slice of EPITOME below.
"""

import json

import numpy as np
import pytest

from stigma_insights.assets.labels.embedding import MODEL_NAME
from stigma_insights.assets.labels.empathy import (
    LEVELS,
    MECHANISMS,
    SHIPPED_ENGINES,
    EmpathyEngines,
    ReplyPairs,
    read_epitome,
)
from stigma_insights.assets.labels.engine import LabelEngine
from stigma_insights.assets.labels.engine_artifact import ArtifactError, dump_engines, load_engines

from conftest import REPO_ROOT, minilm

EPITOME = REPO_ROOT.parent / "shared" / "data" / "epitome" / "epitome_dev.csv"

POST = "I told my parents about my depression and they said I was just lazy. I don't know who to talk to."
WARM = [
    "I'm so sorry you're going through this, sending you a big hug.",
    "That sounds so painful, I'm really sorry. You deserve support.",
    "Sending you love and strength, you are not alone in this.",
    "I'm so sorry, that must hurt a lot. Hugs from me.",
]
ASKING = [
    "What did they say exactly when you told them? Have you talked to anyone else?",
    "How long have you been feeling like this? Do you have a doctor you trust?",
    "Have you tried telling a teacher or a friend? What happened then?",
    "When did this start? Did something change at home recently?",
]
FLAT = [
    "Just go for a run every morning.",
    "Drink more water and sleep earlier.",
    "Read the sidebar rules before posting.",
    "Try a different app for journaling.",
]


def written_pairs() -> ReplyPairs:
    replies = WARM + ASKING + FLAT
    levels = {
        "emotional_reactions": ["strong"] * 4 + ["none"] * 4 + ["none"] * 4,
        "interpretations": ["weak", "strong", "none", "strong"] + ["none"] * 8,
        "explorations": ["none"] * 4 + ["strong"] * 4 + ["none"] * 4,
    }
    return ReplyPairs(replies * 2, [POST] * 24, {m: v * 2 for m, v in levels.items()}, ["p"] * 24, "written pairs")


@pytest.fixture(scope="module")
def written_engines() -> EmpathyEngines:
    return EmpathyEngines.train(written_pairs(), minilm().embed, minilm().model_id)


def test_engines_read_replies_with_their_parent_or_alone_and_survive_a_round_trip(written_engines, tmp_path):
    replies = ["I'm so sorry, sending hugs your way.", "What did your parents say when you told them?"]
    vectors, parents = minilm().embed(replies), minilm().embed([POST, POST])
    labelled = written_engines.label(replies, vectors, parents, np.array([True, False]))
    assert labelled.context == ["pair", "reply_only"]
    assert labelled.levels["emotional_reactions"].best[0] == "strong"
    assert labelled.levels["explorations"].best[1] == "strong"
    for mechanism in MECHANISMS:
        assert set(labelled.levels[mechanism].best) <= set(LEVELS)

    path = tmp_path / "engines.json"
    written_engines.save(path)
    loaded = EmpathyEngines.load(path)
    again = loaded.label(replies, vectors, parents, np.array([True, False]))
    for mechanism in MECHANISMS:
        assert list(again.levels[mechanism].best) == list(labelled.levels[mechanism].best)
        np.testing.assert_allclose(again.levels[mechanism].confidence, labelled.levels[mechanism].confidence)


def test_engines_trained_on_another_models_vectors_are_refused(written_engines, tmp_path):
    path = tmp_path / "engines.json"
    written_engines.save(path)
    with pytest.raises(ArtifactError, match="not other/model's"):
        EmpathyEngines.load(path, embedding_model="other/model")


def test_an_engine_artifact_runs_no_code_and_a_tampered_one_is_refused(tmp_path):
    texts = [f"text {i} {'family shame' if i % 2 else 'weather today'}" for i in range(40)]
    labels = ["community" if i % 2 else "noise" for i in range(40)]
    vectors = np.random.default_rng(0).normal(size=(40, 6))
    engine = LabelEngine(cues=(r"family",)).fit(texts, labels, vectors)
    data = dump_engines({"relevance": engine}, {"id": "x"})
    assert b"pickle" not in data and data.startswith(b"{")
    engines, extra = load_engines(data, "artifact")
    assert extra == {"id": "x"}
    np.testing.assert_array_equal(
        engines["relevance"].predict_proba(texts, vectors), engine.predict_proba(texts, vectors)
    )

    tampered = json.loads(data)
    tampered["engines"]["relevance"]["members"]["tfidf"][0]["type"] = "os.system"
    with pytest.raises(ArtifactError, match="refused.*'os.system' is not trusted"):
        load_engines(json.dumps(tampered).encode(), "artifact")
    with pytest.raises(ArtifactError, match="refused"):
        load_engines(b"\x80\x04pickled", "artifact")


def test_the_shipped_engines_were_trained_on_epitome_with_the_model_in_use():
    engines = EmpathyEngines.load(SHIPPED_ENGINES)
    assert "epitome_dev.csv" in engines.trained_on
    assert engines.embedding_model_id.startswith(MODEL_NAME)
    for context in ("pair", "reply_only"):
        assert set(engines.engines[context]) == set(MECHANISMS)
        for engine in engines.engines[context].values():
            assert engine.min_df >= 3  # the vocabulary keeps no word that only one or two replies used


def test_an_epitome_file_with_other_levels_is_refused(tmp_path):
    path = tmp_path / "epitome.csv"
    path.write_text(
        "sp_id,seeker_post,response_post,emotional_reactions,interpretations,explorations\na,post,reply,0,3,1\n"
    )
    with pytest.raises(ValueError, match="interpretations has levels other than 0, 1, 2"):
        read_epitome(path)
    path.write_text("sp_id,seeker_post,response_post\na,post,reply\n")
    with pytest.raises(ValueError, match="columns missing: emotional_reactions"):
        read_epitome(path)


@pytest.mark.slow
@pytest.mark.skipif(not EPITOME.exists(), reason="needs ../shared/data/epitome (the full run is bench/empathy_cv.py)")
def test_cross_validation_on_a_slice_of_epitome_scores_the_engines_and_both_baselines():
    from stigma_insights.assets.labels.evaluation import cross_validate_empathy

    pairs = read_epitome(EPITOME)
    keep = slice(0, 240)
    part = ReplyPairs(
        pairs.replies[keep],
        pairs.parents[keep],
        {m: v[keep] for m, v in pairs.levels.items()},
        pairs.threads[keep],
        "slice",
    )
    report = cross_validate_empathy(part, minilm().embed(part.replies), minilm().embed(part.parents), folds=3)
    assert report["pairs"] == 240 and report["grouped_by"] == "post replied to"
    for mechanism in MECHANISMS:
        scores = report["mechanisms"][mechanism]
        assert set(scores) == {"pair", "reply_only", "tfidf_lr", "embedding_lr"}
        assert all(0 <= s["macro_f1"] <= 1 for s in scores.values())
    # Real replies: warmth is the easiest mechanism to read; the engine must beat chance clearly on it.
    assert report["mechanisms"]["emotional_reactions"]["pair"]["macro_f1"] > 0.45
