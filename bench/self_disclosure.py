"""Self-disclosed age and gender against the gold set's annotations (issue #29's targets:
precision >= 0.95, recall >= 0.80 for each).

Scored on the posts the second annotation pass read (`part2` = 1): there an empty `self_age` or
`self_gender` means the writer states none, so every extraction there is either right or a false
positive. An age counts as right only when it is the annotated number.

    .venv/bin/python bench/self_disclosure.py [--gold FILE] [--misses]
"""

import argparse
import json
from pathlib import Path

from stigma_insights.assets.disclosure import self_disclosed_age, self_disclosed_gender
from stigma_insights.assets.labels.datasets import read_table

BENCH = Path(__file__).resolve().parent
GOLD = BENCH.parent / "data" / "annotations" / "reddit_stigma_dev.csv"


def scores(truth: list[str], found: list[str | None]) -> dict:
    stated = sum(1 for t in truth if t)
    extracted = sum(1 for f in found if f is not None)
    right = sum(1 for t, f in zip(truth, found, strict=True) if t and f is not None and str(f) == t)
    return {
        "stated": stated,
        "extracted": extracted,
        "right": right,
        "precision": right / extracted if extracted else None,
        "recall": right / stated if stated else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gold", default=str(GOLD))
    parser.add_argument("--misses", action="store_true", help="print every miss and false positive")
    args = parser.parse_args()
    frame = read_table(args.gold)
    frame = frame[frame["part2"] == "1"]
    texts = frame["text"].tolist()
    result = {}
    for field, extract in (("self_age", self_disclosed_age), ("self_gender", self_disclosed_gender)):
        found = [extract(text) for text in texts]
        truth = frame[field].tolist()
        result[field] = scores(truth, found)
        if args.misses:
            for post_id, t, f in zip(frame["id"], truth, found, strict=True):
                if (t or f is not None) and str(f) != t:
                    print(f"{field} {post_id}: annotated {t or '-'}, extracted {f if f is not None else '-'}")
    print(json.dumps({"gold": args.gold, "posts": len(frame), **result}, indent=2))


if __name__ == "__main__":
    main()
