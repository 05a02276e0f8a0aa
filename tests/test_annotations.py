"""The annotation loop: export, import with validation, agreement, training on annotations, relabelling."""

import shutil

import duckdb
import numpy as np
import pandas as pd
import pytest

from stigma_insights.assets.labels.annotations import (
    AnnotationImportError,
    agreement,
    annotated_texts,
    export_for_annotation,
    import_annotations,
    write_table,
)
from stigma_insights.assets.labels.datasets import LabelledTexts
from stigma_insights.assets.labels.evaluation import cross_validate
from stigma_insights.assets.labels.labeller import taxonomy_training_set
from stigma_insights.assets.labels.prevalence import adjusted_share_interval, adjusted_shares, error_rates
from stigma_insights.assets.labels.routes import LabelIds
from stigma_insights.assets.labels.store import label_new_posts
from stigma_insights.assets.labels.taxonomy import load_taxonomy
from stigma_insights.assets.warehouse_tables import ANNOTATIONS_TABLE
from stigma_insights.orchestration.cli import main
from stigma_insights.settings import WAREHOUSE_ENV

from conftest import REPO_ROOT, minilm, public_post_key

GOLD = REPO_ROOT / "data" / "annotations" / "reddit_stigma_dev.csv"


@pytest.fixture
def sample_copy(sample_run, session_settings, tmp_path, monkeypatch):
    """A writable copy of the session warehouse after the sample run (the shared one stays as it was),
    which the CLI opens too."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(session_settings.warehouse, path)
    monkeypatch.setenv(WAREHOUSE_ENV, str(path))
    with duckdb.connect(str(path)) as conn:
        yield conn


def annotate(frame: pd.DataFrame, annotator: str) -> pd.DataFrame:
    """Fill an exported file as an annotator would: relevant posts get a domain and an intent."""
    frame = frame.copy()
    relevant = frame.index % 2 == 0
    frame["relevance"] = np.where(relevant, "relevant", "noise")
    frame["stigma_domain"] = np.where(relevant, "community", "")
    frame["intent"] = np.where(relevant, "personal_story", "")
    frame["annotator"] = annotator
    return frame


@pytest.mark.slow
def test_export_then_import_round_trip_and_reimport_is_a_no_op(sample_copy, tmp_path):
    taxonomy = load_taxonomy()
    exported = export_for_annotation(sample_copy, taxonomy, n=12, strategy="mixed")
    assert len(exported) == 12 and exported["post_key"].is_unique
    assert exported["sampling"].value_counts().to_dict() == {"uncertain": 6, "random": 6}
    assert (exported[["relevance", "stigma_domain", "intent"]] == "").all().all()
    labellable = {
        k
        for (k,) in sample_copy.execute(
            "select post_key from intermediate.int_posts_deduplicated"
            " where status = 'available' and trim(coalesce(text, '')) <> ''"
        ).fetchall()
    }
    # Annotators get the analysts' pseudonymous keys, never a platform id.
    assert set(exported["post_key"]) <= {public_post_key(k) for k in labellable}
    # The uncertain half is the engine's least confident posts.
    confidence = {
        public_post_key(k): c
        for k, c in sample_copy.execute("select post_key, relevance_confidence from labels.post_labels").fetchall()
    }
    uncertain = exported.loc[exported["sampling"] == "uncertain", "post_key"]
    assert max(confidence[k] for k in uncertain) <= sorted(confidence.values())[5]

    path = tmp_path / "done.parquet"
    write_table(annotate(exported, "ana"), path)
    first = import_annotations(sample_copy, taxonomy, path)
    stored = sample_copy.execute(
        f"select count(*), count(distinct post_key) from {ANNOTATIONS_TABLE} where annotator = 'ana'"
    ).fetchone()
    again = import_annotations(sample_copy, taxonomy, path)

    assert (first.added, first.changed, first.unchanged) == (6 * 3 + 6, 0, 0)
    assert stored == (24, 12)
    assert (again.added, again.changed, again.unchanged) == (0, 0, 24)
    # Stored under the warehouse's keys, where the engines and error rates look them up.
    assert {
        public_post_key(k)
        for (k,) in sample_copy.execute(
            f"select distinct post_key from {ANNOTATIONS_TABLE} where annotator = 'ana'"
        ).fetchall()
    } == set(exported["post_key"])
    # Annotated posts are not exported again.
    assert not set(export_for_annotation(sample_copy, taxonomy, n=500, strategy="random")["post_key"]) & set(
        exported["post_key"]
    )


@pytest.mark.slow
def test_every_bad_row_is_reported_and_nothing_is_imported(sample_copy, tmp_path):
    taxonomy = load_taxonomy()
    good = export_for_annotation(sample_copy, taxonomy, n=3, strategy="random")
    rows = annotate(good, "ana")
    bad = pd.concat(
        [
            rows,
            pd.DataFrame(
                [
                    {
                        "post_key": "reddit:post:does-not-exist",
                        "sampling": "random",
                        "relevance": "noise",
                        "annotator": "ana",
                    },
                    {"post_key": good["post_key"][0], "sampling": "random", "relevance": "maybe", "annotator": "bob"},
                    {
                        "post_key": good["post_key"][1],
                        "sampling": "random",
                        "relevance": "noise",
                        "stigma_domain": "self",
                        "annotator": "bob",
                    },
                    {"post_key": good["post_key"][2], "sampling": "because", "relevance": "noise", "annotator": "bob"},
                    {"post_key": good["post_key"][0], "sampling": "random", "relevance": "noise", "annotator": "ana"},
                    {
                        "post_key": good["post_key"][2],
                        "sampling": "random",
                        "relevance": "relevant",
                        "stigma_domain": "work",
                        "annotator": "cy",
                    },
                ]
            ),
        ],
        ignore_index=True,
    ).fillna("")
    path = tmp_path / "bad.csv"
    write_table(bad, path)

    with pytest.raises(AnnotationImportError) as refused:
        import_annotations(sample_copy, taxonomy, path)

    problems = "\n".join(refused.value.problems)
    assert len(refused.value.problems) == 6
    assert "row 5: unknown post key 'reddit:post:does-not-exist'" in problems
    assert "row 6: relevance 'maybe' is not one of relevant, noise" in problems
    assert "row 7: stigma_domain given where relevance is noise" in problems
    assert "row 8: sampling 'because' is not random or uncertain" in problems
    assert "row 9: post_key" in problems and "labelled differently on row 2" in problems
    assert "row 10: stigma_domain 'work' is not one of self, community, professional" in problems
    assert sample_copy.execute(
        f"select count(*) from {ANNOTATIONS_TABLE} where annotator <> 'starter:reddit_stigma_dev'"
    ).fetchone() == (0,)
    # The command line says the same and exits with 2.
    assert main(["annotate", "import", str(path)]) == 2


@pytest.mark.slow
def test_cohens_kappa_between_two_annotators_matches_a_hand_computed_example(sample_copy, tmp_path):
    taxonomy = load_taxonomy()
    posts = export_for_annotation(sample_copy, taxonomy, n=10, strategy="random")[["post_key", "sampling"]]
    # ana: 6 relevant, 4 noise; bob agrees on 8 of 10 (one each way).
    ana = ["relevant"] * 6 + ["noise"] * 4
    bob = ["relevant"] * 5 + ["noise"] + ["relevant"] + ["noise"] * 3
    for name, labels in (("ana", ana), ("bob", bob)):
        path = tmp_path / f"{name}.csv"
        write_table(posts.assign(relevance=labels), path)
        summary = import_annotations(sample_copy, taxonomy, path, annotator=name)

    # observed 0.8; expected 0.6 * 0.6 + 0.4 * 0.4 = 0.52; kappa = (0.8 - 0.52) / (1 - 0.52) = 0.5833
    (pair,) = [row for row in summary.agreement if row["annotators"] == "ana / bob"]
    assert pair["dimension"] == "relevance" and pair["posts"] == 10 and pair["agreement"] == 0.8
    assert pair["kappa"] == pytest.approx(0.28 / 0.48)
    assert agreement(sample_copy, taxonomy) == summary.agreement


@pytest.mark.slow
def test_starter_set_seeds_the_store_as_external_training_examples(sample_copy):
    gold = pd.read_csv(GOLD, dtype=str, keep_default_na=False)
    counts = dict(
        sample_copy.execute(
            f"select dimension, count(*) from {ANNOTATIONS_TABLE} where sampling = 'external' group by all"
        ).fetchall()
    )
    relevance = annotated_texts(sample_copy, "relevance")

    assert counts == {"relevance": 1587, "stigma_domain": 331, "intent": 331, "stigma_source": 331}
    assert sorted(relevance.labels) == sorted(gold["relevance"])
    assert all(relevance.representative)


@pytest.mark.slow
def test_a_changed_training_set_relabels_every_post_from_cached_embeddings(sample_copy, session_settings, tmp_path):
    taxonomy = load_taxonomy()
    log = []
    before = label_new_posts(sample_copy, taxonomy, session_settings.engines_folder, minilm(), log=log.append)
    # Engine artifacts of this test's training set go to its own folder: none from an earlier run.
    engines = tmp_path / "engines"
    path = tmp_path / "new.csv"
    write_table(annotate(export_for_annotation(sample_copy, taxonomy, n=4, strategy="random"), "ana"), path)
    import_annotations(sample_copy, taxonomy, path)

    cached = "select text_sha256 from labels.embedding_cache"
    cached_before = set(sample_copy.execute(cached).fetchall())
    after = label_new_posts(sample_copy, taxonomy, engines, minilm(), log=log.append)
    again = label_new_posts(sample_copy, taxonomy, engines, minilm(), log=log.append)
    models = sample_copy.execute(
        "select distinct embedding_model, engine_id, language_detector from labels.post_labels"
    ).fetchall()
    embedded_now = set(sample_copy.execute(cached).fetchall()) - cached_before
    post_texts = set(sample_copy.execute("select sha256(text) from intermediate.int_posts_deduplicated").fetchall())

    assert before.engine_reused and before.labelled == 0  # the sample run's engines and labels still hold
    assert after.model_id != before.model_id and not after.engine_reused
    assert after.labelled == before.kept
    assert not embedded_now & post_texts  # posts relabelled from cached embeddings (only training texts new)
    # One model per route (MiniLM for the English posts, E5 for the others), both with the new engines.
    assert {LabelIds(*ids).model_name for ids in models} == set(after.labelled_by_route) and after.model_id in set(
        after.labelled_by_route
    )
    assert again.engine_reused and again.labelled == 0 and again.model_id == after.model_id


def test_interval_of_adjusted_shares_covers_the_truth_about_95_percent_of_the_time():
    """Synthetic groups and annotations from a classifier with known error rates: the interval carries the
    group's sampling error and the rates' (80 annotated posts per class)."""
    rng = np.random.default_rng(1)
    truth = np.array([0.6, 0.3, 0.1])
    confusion = np.array([[0.8, 0.15, 0.05], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7]])
    covered, trials = np.zeros(3), 150
    for trial in range(trials):
        true_classes = rng.choice(3, size=400, p=truth)
        labelled = np.array([rng.choice(3, p=confusion[c]) for c in true_classes])
        counts = np.bincount(labelled, minlength=3)
        rate_counts = np.array([rng.multinomial(80, row) for row in confusion])  # 80 annotated per class
        low, high = adjusted_share_interval(counts, rate_counts, replicates=200, seed=trial)
        covered += (low <= truth) & (truth <= high)
    coverage = covered / trials
    assert (coverage >= 0.88).all() and (coverage <= 0.995).all(), coverage


def test_adjusted_shares_shrink_toward_raw_where_few_annotations_measure_the_rates():
    raw = np.array([0.7, 0.3])
    confusion = np.array([[0.8, 0.2], [0.4, 0.6]])
    unsmoothed = adjusted_shares(raw, confusion)
    distance = {
        n: np.abs(adjusted_shares(raw, error_rates(np.round(confusion * n))) - raw).sum() for n in (5, 50, 5000)
    }
    # Few annotations: close to the raw share; many: close to inverting the measured rates.
    assert distance[5] < distance[50] < distance[5000]
    assert np.abs(adjusted_shares(raw, error_rates(np.round(confusion * 5000))) - unsmoothed).max() < 0.01
    # The interval widens as the evidence thins, and always holds the estimate.
    widths = {}
    for n in (10, 1000):
        rate_counts = np.round(confusion * n)
        low, high = adjusted_share_interval(np.array([700, 300]), rate_counts, seed=0)
        estimate = adjusted_shares(raw, error_rates(rate_counts))
        assert ((low <= estimate + 1e-9) & (estimate <= high + 1e-9)).all()
        widths[n] = (high - low)[0]
    assert widths[10] > 2 * widths[1000]


def test_cross_validation_on_a_slice_of_the_gold_set_scores_every_row_once():
    gold = pd.read_csv(GOLD, dtype=str, keep_default_na=False)
    part = pd.concat([gold[gold["relevance"] == "relevant"].head(15), gold[gold["relevance"] == "noise"].head(25)])
    data = LabelledTexts(part["text"].tolist(), part["relevance"].tolist(), "gold slice", 0)
    dimension = load_taxonomy().dimension("relevance")

    report = cross_validate(data, folds=3, minilm=minilm(), extra=taxonomy_training_set(dimension), cues=dimension.cues)

    matrix = np.array(report["confusion_matrix"]["rows_true_columns_predicted"])
    assert report["folds"] == 3 and matrix.sum() == 40 and matrix.sum(axis=1).tolist() == [25, 15]
    assert 0.5 < report["macro_f1"] <= 1
    assert set(report["baselines"]) == {"tfidf_lr", "embedding_lr"}
    shares = report["prevalence_error"]["relevant"]
    assert shares["true_share"] == pytest.approx(15 / 40, abs=0.02)
    assert shares["error_before"] == pytest.approx(abs(shares["classify_and_count"] - shares["true_share"]), abs=0.1)
