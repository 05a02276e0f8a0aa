"""Reply empathy on real replies: 5-fold cross-validation on EPITOME, grouped by the post replied to.

Per mechanism (emotional reactions, interpretations, explorations): macro-F1 over none / weak / strong
of the engines the pipeline ships (read with the parent: "pair"; alone, for replies whose parent is
missing: "reply_only") against TF-IDF+LR and embedding+LR on the reply, on the same folds. Targets
(issue #30): pair >= 0.74 / 0.60 / 0.65 and above TF-IDF+LR on each.

    .venv/bin/python bench/empathy_cv.py [--epitome FILE] [--folds 5] [--json bench/results/empathy_cv.json]
"""

import argparse
import json
import time
from pathlib import Path

from stigma_insights.assets.labels.embedding import MiniLM
from stigma_insights.assets.labels.empathy import read_epitome
from stigma_insights.assets.labels.evaluation import cross_validate_empathy
from stigma_insights.settings import Settings

BENCH = Path(__file__).resolve().parent
EPITOME = BENCH.parent.parent / "shared" / "data" / "epitome" / "epitome_dev.csv"
TARGETS = {"emotional_reactions": 0.74, "interpretations": 0.60, "explorations": 0.65}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epitome", default=str(EPITOME))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--json", help="write the report here")
    args = parser.parse_args()
    pairs = read_epitome(args.epitome)
    minilm = MiniLM(Settings.from_env().embedding)
    started = time.perf_counter()
    replies, parents = minilm.embed(pairs.replies, progress=True), minilm.embed(pairs.parents, progress=True)
    embedded = time.perf_counter() - started
    report = cross_validate_empathy(pairs, replies, parents, args.folds)
    report.update(model=minilm.model_id, embedding_seconds=round(embedded, 1))
    report["seconds"] = round(time.perf_counter() - started, 1)
    for mechanism, scores in report["mechanisms"].items():
        pair, tfidf = scores["pair"]["macro_f1"], scores["tfidf_lr"]["macro_f1"]
        verdict = "met" if pair >= TARGETS[mechanism] else "not met"
        print(
            f"{mechanism:20} pair {pair:.3f} (target {TARGETS[mechanism]:.2f}, {verdict})"
            f"  reply_only {scores['reply_only']['macro_f1']:.3f}  tfidf_lr {tfidf:.3f}"
            f"  embedding_lr {scores['embedding_lr']['macro_f1']:.3f}  pair/tfidf {pair / tfidf:.3f}"
        )
    print(json.dumps({k: v for k, v in report.items() if k != "mechanisms"}))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
