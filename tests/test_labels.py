"""Taxonomy, engine, labeller and evaluation; the engine tests use the real packaged MiniLM model."""

import json

import numpy as np
import pytest

from stigma_insights.assets.labels import engine as engine_module
from stigma_insights.assets.labels.engine import LabelEngine
from stigma_insights.assets.labels.labeller import label_texts, train_engines, training_set_id, training_sets
from stigma_insights.assets.labels.taxonomy import TaxonomyError, load_taxonomy
from stigma_insights.orchestration.cli import main
from stigma_insights.settings import MULTILINGUAL_ENV

from conftest import minilm


def test_shipped_taxonomy_has_its_four_dimensions():
    taxonomy = load_taxonomy()
    assert taxonomy.dimension_names == ("relevance", "stigma_domain", "intent", "stigma_source")
    assert taxonomy.dimension("stigma_domain").class_names == ("self", "community", "professional")
    # Replies in a stigma-related thread get an intent (asking for help, advice), not a domain or source.
    assert [d.name for d in taxonomy.dimensions if d.thread_scope] == ["intent"]
    assert taxonomy.dimension("intent").class_names == (
        "awareness",
        "actionable_advice",
        "seeking_help",
        "personal_story",
    )
    source = taxonomy.dimension("stigma_source")
    assert set(source.class_names) == {
        "self", "parents", "family", "partner", "friends_peers",
        "school", "workplace", "health_professionals", "religion_culture", "society_media",
    }  # fmt: skip
    # Who stigmatises rolls up to where the stigma comes from, as the annotation guides say.
    assert source.rolls_up_to == "stigma_domain"
    roll_up = {c.name: c.rolls_up_to for c in source.classes}
    assert roll_up["parents"] == roll_up["society_media"] == "community"
    assert roll_up["workplace"] == roll_up["health_professionals"] == roll_up["school"] == "professional"
    assert roll_up["self"] == "self"
    for name in ("intent", "stigma_domain", "stigma_source"):
        assert taxonomy.dimension(name).applies_when == (("relevance", "relevant"),)
    for dimension in taxonomy.dimensions:
        assert all(len(c.examples) >= 5 for c in dimension.classes)


def test_malformed_taxonomy_is_refused(tmp_path):
    path = tmp_path / "taxonomy.yaml"
    path.write_text("version: 1\ndimensions:\n  relevance:\n    classes:\n      only: {description: x}\n")
    with pytest.raises(TaxonomyError, match="at least two classes"):
        load_taxonomy(path)
    path.write_text(
        "version: 1\ndimensions:\n"
        "  domain:\n    classes: {self: {description: x}, others: {description: y}}\n"
        "  source:\n    rolls_up_to: domain\n"
        "    classes: {me: {description: x, rolls_up_to: self}, boss: {description: y, rolls_up_to: work}}\n"
    )
    with pytest.raises(TaxonomyError, match=r"rolls up to 'domain', but classes \['boss'\]"):
        load_taxonomy(path)
    path.write_text(
        "version: 1\ndimensions:\n  domain:\n    classes: {self: {description: x}, others: {description: y}}\n"
        "thread_scope: [domain]\n"
    )
    with pytest.raises(TaxonomyError, match="thread_scope names 'domain', which is no dimension gated on relevance"):
        load_taxonomy(path)


def synthetic_embeddings(y: np.ndarray, noise: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.eye(3, 16)
    vectors = centres[y] + noise * rng.normal(size=(len(y), 16))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_engine_learns_and_chooses_its_blend_on_held_out_predictions():
    y = np.repeat([0, 1, 2], 40)
    texts = [f"item {i}" for i in range(len(y))]  # uninformative words: TF-IDF cannot help here
    engine = LabelEngine().fit(texts, [f"c{v}" for v in y], synthetic_embeddings(y, 0.3, 0))

    test_y = np.repeat([0, 1, 2], 20)
    decisions = engine.predict([f"item {i}" for i in range(60)], synthetic_embeddings(test_y, 0.3, 1))
    labels, confidence = decisions.best, decisions.confidence

    calibration = engine.calibration
    assert calibration.weights["tfidf"] <= 0.2 and calibration.held_out_macro_f1 > 0.9
    assert (labels == np.array([f"c{v}" for v in test_y])).mean() > 0.9
    # Confident where the classes separate, flagged uncertain where a text sits between all three.
    assert confidence.mean() > 0.8 and decisions.uncertain.mean() < 0.1
    ambiguous = engine.predict(["item"], np.full((1, 16), 0.25))
    assert ambiguous.uncertain[0] and ambiguous.confidence[0] < calibration.uncertain_below


def test_uncertain_below_the_confidence_where_held_out_predictions_turn_mostly_wrong():
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.5, 1.0, size=4000)
    y = np.zeros(4000, dtype=int)
    # Predictions under 0.6 confidence are right a quarter of the time, above it nine times in ten.
    right = rng.uniform(size=4000) < np.where(confidence < 0.6, 0.25, 0.9)
    predicted_class_first = np.column_stack([confidence, 1 - confidence])
    probabilities = np.where(right[:, None], predicted_class_first, predicted_class_first[:, ::-1])

    threshold = LabelEngine._uncertainty_threshold(probabilities, probabilities.argmax(axis=1), y)

    assert 0.55 <= threshold <= 0.65


def test_labeller_labels_clear_texts_and_skips_dimensions_that_do_not_apply():
    texts = [
        "My parents told me depression is a sin and that I must never tell our relatives.",
        "After I told HR about my anxiety I was quietly moved off every project.",
        "How do I stop feeling so ashamed of myself for needing antidepressants? Any advice?",
        "What's the best pizza place downtown?",
    ]
    taxonomy, encoder = load_taxonomy(), minilm()
    engines = train_engines(taxonomy, training_sets(taxonomy), encoder.embed)  # the taxonomy's examples alone
    labels = label_texts(texts, taxonomy, engines, encoder.embed(texts))

    assert labels["relevance"].labels == ["relevant", "relevant", "relevant", "noise"]
    assert labels["stigma_domain"].labels == ["community", "professional", "self", None]
    assert labels["intent"].labels[2] == "seeking_help"
    # Intent is kept for every text (a reply in a stigma thread gets it); the fact gates it by scope.
    assert labels["intent"].labels[3] is not None


def test_evaluate_command_scores_engine_and_both_baselines(tmp_path, capsys):
    topics = {
        "family": ["my parents say my depression is shameful", "my mom hides my pills from relatives"],
        "work": ["my boss demoted me after my sick leave", "hr laughed at my anxiety accommodation"],
        "self": ["i feel like a failure for needing therapy", "i am ashamed of my own diagnosis"],
    }
    for split, repeats in (("train", 8), ("test", 3)):
        rows = ["text,label"] + [
            f'"{t} ({split} {i})",{label}' for label, ts in topics.items() for t in ts for i in range(repeats)
        ]
        (tmp_path / f"{split}.csv").write_text("\n".join(rows) + "\n")
    report_path = tmp_path / "report.json"

    assert (
        main(
            [
                "evaluate",
                "--train",
                str(tmp_path / "train.csv"),
                "--test",
                str(tmp_path / "test.csv"),
                "--text-col",
                "text",
                "--label-col",
                "label",
                "--json",
                str(report_path),
            ]
        )
        == 0
    )

    report = json.loads(report_path.read_text())
    assert report["macro_f1"] > 0.9 and report["accuracy"] > 0.9
    assert set(report["per_class"]) == {"family", "work", "self"}
    assert set(report["prevalence_error"]["work"]) >= {"true_share", "error_before", "error_after"}
    assert {"macro_f1", "accuracy"} <= set(report["baselines"]["tfidf_lr"])
    assert {"macro_f1", "accuracy"} <= set(report["baselines"]["embedding_lr"])
    assert sum(map(sum, report["confusion_matrix"]["rows_true_columns_predicted"])) == 18
    assert "macro-F1" in capsys.readouterr().out


def test_taxonomy_check_reports_each_dimension(capsys):
    assert main(["taxonomy-check"]) == 0
    out = capsys.readouterr().out
    for name in ("relevance", "stigma_domain", "intent"):
        assert f"{name}: cross-validated macro-F1" in out


def test_evaluate_routes_texts_not_in_english_to_the_multilingual_model_as_the_pipeline_does(tmp_path, monkeypatch):
    stigma = [
        "Mis padres dicen que la depresión es una vergüenza y que no debo ir al psicólogo",
        "En mi familia nadie habla de la ansiedad, dicen que es debilidad",
        "My parents say depression is shameful and I must not see a therapist",
        "Nobody in my family talks about anxiety, they call it weakness",
    ]
    other = [
        "La mejor pizza de la ciudad está en la plaza mayor, abre a las ocho",
        "Mañana vamos a la playa con los primos si no llueve",
        "The best pizza in town is on the main square, it opens at eight",
        "Tomorrow we are going to the beach with the cousins if it does not rain",
    ]
    for split, repeats in (("train", 5), ("test", 1)):
        rows = ["text,label"] + [
            f'"{t} ({split} {i})",{label}'
            for label, texts in (("stigma", stigma), ("other", other))
            for t in texts
            for i in range(repeats)
        ]
        (tmp_path / f"{split}.csv").write_text("\n".join(rows) + "\n")
    args = ["--train", str(tmp_path / "train.csv"), "--test", str(tmp_path / "test.csv")]
    report_path = tmp_path / "report.json"
    command = ["evaluate", *args, "--text-col", "text", "--label-col", "label", "--json", str(report_path)]

    assert main(command) == 0

    report = json.loads(report_path.read_text())
    assert report["routed_to_multilingual"]["texts"] == 4  # the Spanish test texts, as the labels asset routes
    assert report["routed_to_multilingual"]["model"].startswith("intfloat/multilingual-e5-small")
    assert sum(map(sum, report["confusion_matrix"]["rows_true_columns_predicted"])) == 8
    assert report["accuracy"] >= 0.75
    monkeypatch.setenv(MULTILINGUAL_ENV, "off")  # routing off: every text to MiniLM, as in the pipeline
    assert main(command) == 0
    assert json.loads(report_path.read_text())["routed_to_multilingual"]["texts"] == 0


def test_decision_offsets_are_chosen_on_held_out_predictions_and_move_the_decisions():
    """A rare class the probabilities under-rate: an offset for it raises held-out macro-F1."""
    rng = np.random.default_rng(0)
    y = (rng.uniform(size=600) < 0.2).astype(int)
    score = np.clip(0.15 + 0.3 * y + rng.normal(0, 0.12, size=600), 0.01, 0.99)  # class 1 rarely above 0.5
    probabilities = np.column_stack([1 - score, score])
    engine = LabelEngine()
    engine.classes_ = np.array(["common", "rare"])

    offsets = engine._decision_offsets(probabilities, y)

    assert offsets[1] - offsets[0] >= 0.3  # the rare class needs less probability to be chosen
    assert LabelEngine._macro_f1(y, probabilities, offsets) > LabelEngine._macro_f1(y, probabilities) + 0.05
    # Too few held-out items of a class to tell a better offset from chance: no offsets.
    assert not engine._decision_offsets(probabilities[:40], y[:40] * (np.arange(40) < 5)).any()


def test_the_engines_id_follows_their_code_and_settings_with_nothing_to_bump_by_hand(monkeypatch):
    """An artifact of engines trained by other code or settings is never reused: the id changes by itself."""
    taxonomy = load_taxonomy()
    sets = training_sets(taxonomy)
    before = training_set_id(taxonomy, sets, "model")
    assert training_set_id(taxonomy, sets, "model") == before
    monkeypatch.setattr(engine_module, "TAXONOMY_WEIGHT_MAX_POSTS", engine_module.TAXONOMY_WEIGHT_MAX_POSTS + 1)
    assert training_set_id(taxonomy, sets, "model") != before
    monkeypatch.undo()
    assert training_set_id(taxonomy, sets, "model") == before
    assert training_set_id(taxonomy, sets, "another model") != before
