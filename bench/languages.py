"""Language identification: accuracy on the multilingual probe, false code-mixed calls on real English
posts, and throughput.

The probe (bench/language_probe.csv) was written for this project: ten sentences about mental-health
stigma in English, Tagalog, Hindi (Devanagari), Korean, Indonesian and Spanish, and in Hinglish and
Taglish, plus a few posts too short to tell. Real posts (../shared: the gold Reddit set and Dreaddit)
are all English: on them the question is how often the detector says anything else. Target (issue
#13): accuracy >= 0.95 on the probe's single-language rows; code-mixed rows reported separately.

    .venv/bin/python bench/languages.py
"""

import csv
import time
from collections import Counter
from pathlib import Path

import polars as pl

from stigma_insights.assets.labels.language import detect_languages

BENCH = Path(__file__).resolve().parent
SHARED_DATA = BENCH.parents[1] / "shared" / "data"
CODE_MIXED = {"hinglish", "taglish"}


def main() -> None:
    probe = list(csv.DictReader((BENCH / "language_probe.csv").open(encoding="utf-8")))
    guesses = detect_languages([row["text"] for row in probe])
    for name, rows in (
        ("single-language", [i for i, row in enumerate(probe) if row["language"] not in CODE_MIXED]),
        ("code-mixed", [i for i, row in enumerate(probe) if row["language"] in CODE_MIXED]),
    ):
        right = sum(guesses[i].code == probe[i]["language"] for i in rows)
        print(f"probe, {name}: {right}/{len(rows)} = {right / len(rows):.3f}")
        for i in rows:
            if guesses[i].code != probe[i]["language"]:
                guess = guesses[i]
                print(
                    f"  expected {probe[i]['language']}, got {guess.code} ({guess.confidence}): {probe[i]['text'][:60]}"
                )
    per_language = Counter(row["language"] for row in probe)
    print("probe rows per language:", dict(per_language))

    real = {
        "gold": pl.read_csv(SHARED_DATA / "gold" / "reddit_stigma_dev.csv")["text"].to_list(),
        "dreaddit": pl.concat(
            [pl.read_csv(SHARED_DATA / "dreaddit" / name, columns=["text"]) for name in ("train.csv", "test.csv")]
        )["text"].to_list(),
    }
    for name, texts in real.items():
        started = time.perf_counter()
        codes = Counter(guess.code for guess in detect_languages(texts))
        seconds = time.perf_counter() - started
        other = sum(count for code, count in codes.items() if code not in {"en", "und"})
        print(
            f"{name} (real English posts): {len(texts):,} posts, {len(texts) / seconds:,.0f} posts/s;"
            f" en {codes['en']}, und {codes['und']}, other {other} ({other / len(texts):.4f});"
            f" code-mixed {sum(codes[code] for code in CODE_MIXED)}"
        )


if __name__ == "__main__":
    main()
