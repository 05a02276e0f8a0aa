"""Taxonomy, classifier and labeller; the labeller tests use the real packaged MiniLM model."""

import numpy as np
import pytest

from assets.labels.classifier import CentroidClassifier
from assets.labels.labeller import label_texts
from assets.labels.taxonomy import TaxonomyError, load_taxonomy


def test_shipped_taxonomy_has_the_three_dimensions():
    taxonomy = load_taxonomy()
    assert taxonomy.dimension_names == ("relevance", "stigma_domain", "intent")
    assert taxonomy.dimension("stigma_domain").class_names == ("self", "community", "professional")
    assert taxonomy.dimension("intent").class_names == (
        "awareness", "actionable_advice", "seeking_help", "personal_story")
    assert taxonomy.dimension("intent").applies_when == (("relevance", "relevant"),)
    for dimension in taxonomy.dimensions:
        assert all(len(c.examples) >= 5 for c in dimension.classes)


def test_malformed_taxonomy_is_refused(tmp_path):
    path = tmp_path / "taxonomy.yaml"
    path.write_text("version: 1\ndimensions:\n  relevance:\n    classes:\n      only: {description: x}\n")
    with pytest.raises(TaxonomyError, match="at least two classes"):
        load_taxonomy(path)


def test_centroid_classifier_picks_the_nearest_class_with_calibrated_confidence():
    train = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], dtype=np.float32)
    train /= np.linalg.norm(train, axis=1, keepdims=True)
    classifier = CentroidClassifier().fit(train, ["a", "a", "b", "b"])

    labels, confidences = classifier.predict(np.array([[0.95, 0.05], [0.7, 0.7], [0, 1]], dtype=np.float32))

    assert (labels[0], labels[2]) == ("a", "b")
    assert confidences[0] > 0.99 and confidences[2] > 0.99
    assert 0.45 < confidences[1] < 0.55  # equidistant: no confidence either way
    assert np.allclose(classifier.predict_proba(train).sum(axis=1), 1)


def test_labeller_labels_clear_texts_and_skips_dimensions_that_do_not_apply():
    texts = [
        "My parents told me depression is a sin and that I must never tell our relatives.",
        "After I told HR about my anxiety I was quietly moved off every project.",
        "How do I stop feeling so ashamed of myself for needing antidepressants? Any advice?",
        "What's the best pizza place downtown?",
    ]
    labels = label_texts(texts, load_taxonomy())

    assert labels["relevance"].labels == ["relevant", "relevant", "relevant", "noise"]
    assert labels["stigma_domain"].labels == ["community", "professional", "self", None]
    assert labels["intent"].labels[2] == "seeking_help"
    assert labels["intent"].labels[3] is None and labels["intent"].confidences[3] is None
    assert all(0 <= c <= 1 for c in labels["relevance"].confidences)
