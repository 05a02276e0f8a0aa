"""Themes (assets/themes/themes.py): outlier share, theme count, stability across shuffled reruns
(adjusted Rand index) and time, on real posts and on 10k generated ones.

- gold: the gold set's relevant posts (real Reddit posts annotated stigma-related), and each stigma
  domain among them, as the themes asset would cluster them;
- dreaddit: 3,553 real Reddit posts (all of Dreaddit);
- generated: 10,000 posts of recombined real sentences (bench/generate_landing.py's RealText).
Embeddings: MiniLM (int8 on a CPU), as cached by the labels stage; their time is not the themes' time.
Targets (issue #13): outlier share <= 30%, ARI >= 0.8 across shuffled reruns.

    .venv/bin/python bench/themes.py
"""

import time
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.metrics import adjusted_rand_score

from stigma_insights.assets.labels.embedding import MiniLM
from stigma_insights.assets.themes.themes import find_themes
from stigma_insights.settings import Settings

from generate_landing import RealText, shared_real_texts

BENCH = Path(__file__).resolve().parent
SHARED_DATA = BENCH.parents[1] / "shared" / "data"
GOLD = BENCH.parent / "data" / "annotations" / "reddit_stigma_dev.csv"


def measure(name: str, texts: list[str], embeddings: np.ndarray) -> None:
    started = time.perf_counter()
    themes = find_themes(texts, embeddings)
    seconds = time.perf_counter() - started
    order = np.random.default_rng(1).permutation(len(texts))
    shuffled = find_themes([texts[i] for i in order], embeddings[order])
    back = np.empty_like(shuffled.assignment)
    back[order] = shuffled.assignment
    print(
        f"{name}: {len(texts):,} posts, {len(themes.sizes)} themes, outliers {themes.outlier_share:.1%},"
        f" ARI across a shuffled rerun {adjusted_rand_score(themes.assignment, back):.3f},"
        f" {seconds:.2f} s ({seconds * 10_000 / len(texts):.2f} s per 10k), largest theme"
        f" {max(themes.sizes, default=0) / len(texts):.0%}"
    )
    for size, words in sorted(zip(themes.sizes, themes.keywords, strict=True), reverse=True)[:4]:
        print(f"  {size:5d}  {', '.join(words[:6])}")


def main() -> None:
    gold = pl.read_csv(GOLD).filter(pl.col("relevance") == "relevant")
    texts = gold["text"].to_list()
    embed = MiniLM(Settings.from_env().embedding).embed
    embeddings = embed(texts)
    measure("gold relevant posts", texts, embeddings)
    for domain in sorted(gold["stigma_domain"].unique()):
        mask = (gold["stigma_domain"] == domain).to_numpy()
        measure(f"gold relevant, {domain}", [t for t, m in zip(texts, mask, strict=True) if m], embeddings[mask])

    dreaddit = pl.concat(
        [pl.read_csv(SHARED_DATA / "dreaddit" / name, columns=["text"]) for name in ("train.csv", "test.csv")]
    )["text"].to_list()
    measure("dreaddit", dreaddit, embed(dreaddit))

    generated = RealText(np.random.default_rng(1), shared_real_texts()).posts(10_000)
    measure("generated", generated, embed(generated))


if __name__ == "__main__":
    main()
