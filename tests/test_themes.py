"""Themes: clusters of embeddings with keywords, outliers counted, order-independent, stable ids."""

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, homogeneity_score

from stigma_insights.assets.themes.themes import (
    OUTLIER,
    Themes,
    ThemeWords,
    find_themes,
    fitting_posts,
    match_previous,
    stop_words,
    text_digests,
    words_of,
)

GROUPS = {
    "family": "my parents say therapy brings shame on the family ko saya hai",
    "work": "my boss fired me after I disclosed my depression at work ko saya hai",
    "doctor": "the doctor dismissed my anxiety and refused a referral ko saya hai",
}


def posts(seed: int = 0, per_group: int = 30, strays: int = 6) -> tuple[list[str], np.ndarray, list[str]]:
    """Three tight groups of unit vectors around random centres, and strays far from all of them."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(GROUPS), 384))
    vectors, texts, truth = [], [], []
    for centre, (name, text) in zip(centres, GROUPS.items(), strict=True):
        vectors += list(centre / np.linalg.norm(centre) + rng.normal(scale=0.02, size=(per_group, 384)))
        texts += [text] * per_group
        truth += [name] * per_group
    vectors += list(rng.normal(size=(strays, 384)))
    texts += ["lunch was great today"] * strays
    truth += ["stray"] * strays
    embeddings = np.asarray(vectors, dtype=np.float32)
    return texts, embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True), truth


def test_themes_follow_the_groups_count_the_strays_and_skip_function_words():
    texts, embeddings, truth = posts()
    themes = find_themes(texts, embeddings)

    # Leaf selection may split a group into finer themes, never mix two groups or take in a stray.
    themed = themes.assignment != OUTLIER
    assert homogeneity_score(np.asarray(truth)[themed], themes.assignment[themed]) == 1.0
    assert sum(themes.sizes) == 90 and len(themes.sizes) >= 3
    assert (themes.assignment == OUTLIER).sum() == 6 and abs(themes.outlier_share - 6 / 96) < 1e-9
    words = {" ".join(sorted(k)) for k in themes.keywords}
    assert any("family" in w and "parents" in w for w in words) and any("boss" in w for w in words)
    assert not {"ko", "saya", "hai", "my", "the"} & {w for k in themes.keywords for w in k}


def test_keywords_counted_batch_by_batch_are_those_of_scikit_learns_counts_over_each_themes_texts():
    """ThemeWords counts words a batch of texts at a time; the keywords are what CountVectorizer gives over
    each theme's texts joined into one document (lowercased, function words dropped, ties in its order)."""
    from sklearn.feature_extraction.text import CountVectorizer

    texts = [
        *GROUPS.values(),
        "My Parents said THERAPY is for weak people, my parents never listen",
        "मेरे परिवार में कोई थेरेपी की बात नहीं करता, परिवार शर्म मानता है",
        "the boss, the boss again: disclosed at work and the boss fired me",
        "Therapy therapy therapy; the doctor said wait",
        "lunch",
    ]
    assignment = np.array([0, 1, 2, 0, 0, 1, 2, OUTLIER])
    words = ThemeWords(3)
    for start in range(0, len(texts), 3):
        words.add(texts[start : start + 3], assignment[start : start + 3])

    documents = [" ".join(t for t, a in zip(texts, assignment, strict=True) if a == theme) for theme in range(3)]
    vectorizer = CountVectorizer(tokenizer=words_of, token_pattern=None, stop_words=list(stop_words()))
    counts = vectorizer.fit_transform(documents).toarray().astype(float)
    frequency = counts / counts.sum(axis=1, keepdims=True)
    weights = frequency * np.log1p(counts.sum(axis=1).mean() / counts.sum(axis=0))
    vocabulary = vectorizer.get_feature_names_out()
    expected = [[str(vocabulary[i]) for i in np.argsort(-row)[:8] if row[i] > 0] for row in weights]

    assert words.keywords() == expected
    assert "parents" in expected[0] and "boss" in expected[1] and "lunch" not in sum(expected, [])
    assert "परिवार" in expected[0]  # words in any script


def test_the_same_posts_in_another_order_give_the_same_themes():
    texts, embeddings, _ = posts(seed=3)
    order = np.random.default_rng(7).permutation(len(texts))
    first = find_themes(texts, embeddings)
    shuffled = find_themes([texts[i] for i in order], embeddings[order])
    back = np.empty_like(shuffled.assignment)
    back[order] = shuffled.assignment
    assert adjusted_rand_score(first.assignment, back) == 1.0


def test_past_the_fitting_size_a_sample_finds_the_themes_and_every_post_gets_one():
    texts, embeddings, truth = posts(seed=5, per_group=60)
    texts = [f"{text} post {i}" for i, text in enumerate(texts)]  # distinct texts, distinct hashes
    fitted = fitting_posts(text_digests(texts), 90)
    assert len(set(fitted.tolist())) == 90 and fitted.max() < len(texts)
    themes = find_themes(texts, embeddings, fit_posts=90)

    themed = themes.assignment != OUTLIER
    assert themed.sum() == 180  # the posts outside the sample took their group's theme too
    assert homogeneity_score(np.asarray(truth)[themed], themes.assignment[themed]) > 1 - 1e-9  # no theme mixes
    assert (np.asarray(truth)[~themed] == "stray").all()
    order = np.random.default_rng(11).permutation(len(texts))
    shuffled = find_themes([texts[i] for i in order], embeddings[order], fit_posts=90)
    back = np.empty_like(shuffled.assignment)
    back[order] = shuffled.assignment
    assert adjusted_rand_score(themes.assignment, back) == 1.0  # the same sample, whatever the order


def test_a_theme_keeps_its_id_across_runs_and_a_new_one_gets_a_new_id():
    rng = np.random.default_rng(5)
    centres = rng.normal(size=(4, 384))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    nearby = centres + rng.normal(scale=0.01, size=centres.shape)
    nearby /= np.linalg.norm(nearby, axis=1, keepdims=True)

    def themes(centroids: np.ndarray) -> Themes:
        return Themes(np.zeros(0, dtype=int), centroids, [[] for _ in centroids], [10] * len(centroids))

    # Last night: themes 7, 8, 9. Tonight: 8's and 7's themes again (moved a little, in another order),
    # and a new one; 9's theme is gone.
    ids = match_previous(themes(nearby[[1, 0, 3]]), [7, 8, 9], centres[:3], next_id=10)
    assert ids == [8, 7, 10]
    assert match_previous(themes(centres[:2]), [], np.zeros((0, 384)), next_id=0) == [0, 1]


@pytest.mark.slow  # runs the whole pipeline on the sample
def test_the_sample_gets_themes_per_domain_that_a_rerun_keeps(sample_run, session_settings, tmp_path):
    """On the pipeline's warehouse: every stigma-related post has a theme row (-1 for none), each domain's
    shares in agg_themes_by_domain sum to 1 with keywords and no post text, and theming again the same
    posts changes no theme id and no post's theme."""
    import shutil

    import duckdb

    from stigma_insights.assets.themes.store import theme_posts

    path = tmp_path / "warehouse.duckdb"
    shutil.copy(session_settings.warehouse, path)
    with duckdb.connect(str(path)) as conn:
        related = conn.execute("select count(*) from marts.fct_labelled_posts where is_stigma_related").fetchone()[0]
        themed = conn.execute(
            "select count(*) from marts.fct_labelled_posts where is_stigma_related and theme_id is not null"
        ).fetchone()[0]
        totals = conn.execute(
            "select stigma_domain, sum(share), sum(n_posts), min(keywords) from marts.agg_themes_by_domain"
            " where grouping = 'all' group by all"
        ).fetchall()
        texts = {t for (t,) in conn.execute("select text from marts.fct_labelled_posts").fetchall()}
        keywords = {k for (k,) in conn.execute("select keywords from marts.agg_themes_by_domain").fetchall()}
        before = conn.execute("select post_key, theme_id, assigned_at from labels.post_themes order by 1").fetchall()

        first_theme = max(theme for _, theme, _ in before)
        again = theme_posts(conn, names={first_theme: "a named theme"})
        after = conn.execute("select post_key, theme_id, assigned_at from labels.post_themes order by 1").fetchall()
        named = conn.execute("select theme_id from labels.themes where name = 'a named theme'").fetchall()

    assert themed == related > 100
    assert {domain for domain, *_ in totals} == {"self", "community", "professional"}
    assert all(abs(share - 1) < 1e-9 for _, share, _, _ in totals) and sum(n for _, _, n, _ in totals) == related
    assert not keywords & texts  # keywords and counts only
    assert again.changed == 0 and after == before  # same posts, same themes, same ids, same timestamps
    assert named == [(first_theme,)]  # a name follows the theme id
