"""How replies receive what they answer: the empathy a reply shows, on EPITOME's three mechanisms.

Sharma, Miner, Atkins, Althoff, "A Computational Approach to Understanding Empathy Expressed in
Text-Based Mental Health Support" (EMNLP 2020): emotional reactions (warmth, compassion), interpretations
(understanding shown), explorations (asking about the writer's experience), each none / weak / strong.

A reply is read with the text it answers (its parent comment, else its thread's post): the engine's
embedding member sees the pair as the reply's MiniLM vector beside its element-wise product with the
parent's (what of the post the reply takes up), blended with TF-IDF and cue members on the reply's
words (`LabelEngine`, calibrated the same way as the taxonomy's dimensions). A reply whose parent is not
in the warehouse is labelled by a second engine trained on the reply alone; `context` says which.

The engines are trained on EPITOME (`stigma-insights empathy train`) and shipped as a JSON artifact
(`empathy_engines.json` beside this module): the data set itself never enters the repository, and its
TF-IDF vocabulary keeps only terms used by at least MIN_REPLIES_PER_TERM replies.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from stigma_insights.assets.labels.embedding import MODEL_NAME
from stigma_insights.assets.labels.engine import Decisions, LabelEngine
from stigma_insights.assets.labels.engine_artifact import ArtifactError, dump_engines, load_engines

MECHANISMS = ("emotional_reactions", "interpretations", "explorations")
LEVELS = ("none", "weak", "strong")  # EPITOME's 0, 1, 2
CONTEXTS = ("pair", "reply_only")  # read with the text it answers, or alone (its parent is missing)
MIN_REPLIES_PER_TERM = 3
SHIPPED_ENGINES = Path(__file__).with_name("empathy_engines.json")
# What replies in mental-health threads say when they show each mechanism (the annotators' rationale
# spans lean on these): questions, compassion, shared experience, questions about the writer.
EMPATHY_CUES = (
    r"\?",
    r"\b(sorry|hugs?|<3|sending (you )?(love|hugs|strength)|here for you|feel for you|proud of you|take care)\b",
    r"\b(i (also|too)|me too|same here|i've been|i went through|i know (how|what)|i understand|been there)\b",
    r"\b(what|how|why|when|do you|have you|are you|did you|can you)\b[^.?!]*\?",
    r"\b(it sounds like|you seem|must be|that must|you feel|you're feeling|makes sense)\b",
)
EPITOME_COLUMNS = ("sp_id", "seeker_post", "response_post", *MECHANISMS)


@dataclass(frozen=True)
class ReplyPairs:
    """Replies with the texts they answer and, for training, their empathy levels."""

    replies: list[str]
    parents: list[str]
    levels: dict[str, list[str]]  # mechanism -> level of each reply
    threads: list[str]  # the post each reply answers: folds never split one post's replies
    description: str


def read_epitome(path: str | Path) -> ReplyPairs:
    """EPITOME's (seeker post, response) pairs, levels 0 / 1 / 2 as none / weak / strong."""
    frame = pl.read_csv(path, infer_schema=False)
    missing = [c for c in EPITOME_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: not an EPITOME file, columns missing: {', '.join(missing)}")
    levels = {}
    for mechanism in MECHANISMS:
        values = frame[mechanism].to_list()
        wrong = sorted({v for v in values if v not in ("0", "1", "2")}, key=str)
        if wrong:
            raise ValueError(f"{path}: {mechanism} has levels other than 0, 1, 2: {wrong[:5]}")
        levels[mechanism] = [LEVELS[int(v)] for v in values]
    return ReplyPairs(
        frame["response_post"].fill_null("").to_list(),
        frame["seeker_post"].fill_null("").to_list(),
        levels,
        frame["sp_id"].to_list(),
        f"{Path(path).name} ({frame.height} pairs)",
    )


def features(reply_vectors: np.ndarray, parent_vectors: np.ndarray | None) -> np.ndarray:
    """The embedding member's input: the reply alone, or the reply beside what it shares with its parent."""
    if parent_vectors is None:
        return reply_vectors
    return np.hstack([reply_vectors, reply_vectors * parent_vectors])


def empathy_engine(seed: int = 0) -> LabelEngine:
    """An untrained engine for one mechanism and context, as the shipped ones are built."""
    return LabelEngine(cues=EMPATHY_CUES, min_df=MIN_REPLIES_PER_TERM, seed=seed)


@dataclass(frozen=True)
class ReplyEmpathy:
    context: list[str]  # per reply: "pair" or "reply_only"
    levels: dict[str, Decisions]  # mechanism -> level, calibrated confidence, uncertain flag


@dataclass(frozen=True)
class EmpathyEngines:
    engines: dict[str, dict[str, LabelEngine]]  # context -> mechanism -> engine
    embedding_model_id: str  # the vectors the engines were trained on (model, backend, pooling)
    trained_on: str

    @classmethod
    def train(
        cls, pairs: ReplyPairs, embed_texts: Callable[[list[str]], np.ndarray], embedding_model_id: str
    ) -> "EmpathyEngines":
        replies, parents = embed_texts(pairs.replies), embed_texts(pairs.parents)
        engines = {
            context: {
                mechanism: empathy_engine().fit(
                    pairs.replies,
                    pairs.levels[mechanism],
                    features(replies, parents if context == "pair" else None),
                )
                for mechanism in MECHANISMS
            }
            for context in CONTEXTS
        }
        return cls(engines, embedding_model_id, pairs.description)

    def label(
        self, replies: list[str], reply_vectors: np.ndarray, parent_vectors: np.ndarray, has_parent: np.ndarray
    ) -> ReplyEmpathy:
        """`parent_vectors` rows of replies without a parent are ignored (any value)."""
        has_parent = np.asarray(has_parent, dtype=bool)
        decided: dict[str, Decisions] = {}
        for mechanism in MECHANISMS:
            best = np.empty(len(replies), dtype=object)
            confidence, uncertain = np.zeros(len(replies)), np.zeros(len(replies), dtype=bool)
            for context, rows in (("pair", np.flatnonzero(has_parent)), ("reply_only", np.flatnonzero(~has_parent))):
                if len(rows) == 0:
                    continue
                parents = parent_vectors[rows] if context == "pair" else None
                result = self.engines[context][mechanism].predict(
                    [replies[i] for i in rows], features(reply_vectors[rows], parents)
                )
                best[rows], confidence[rows], uncertain[rows] = result.best, result.confidence, result.uncertain
            decided[mechanism] = Decisions(best, confidence, uncertain)
        return ReplyEmpathy(["pair" if p else "reply_only" for p in has_parent], decided)

    def save(self, path: Path) -> None:
        engines = {f"{c}/{m}": e for c, by_mechanism in self.engines.items() for m, e in by_mechanism.items()}
        path.write_bytes(
            dump_engines(
                engines,
                {
                    "embedding_model": MODEL_NAME,
                    "embedding_model_id": self.embedding_model_id,
                    "trained_on": self.trained_on,
                },
            )
        )

    @classmethod
    def load(cls, path: Path, embedding_model: str = MODEL_NAME) -> "EmpathyEngines":
        """The engines of an artifact; refused if they were trained on another model's vectors (another
        backend of the same model is accepted: its vectors differ by rounding)."""
        flat, extra = load_engines(path.read_bytes(), str(path))
        if extra.get("embedding_model") != embedding_model:
            raise ArtifactError(
                f"{path}: trained on {extra.get('embedding_model')} vectors, not {embedding_model}'s; "
                "train them again: stigma-insights empathy train --epitome FILE"
            )
        engines: dict[str, dict[str, LabelEngine]] = {c: {} for c in CONTEXTS}
        for key, engine in flat.items():
            context, mechanism = key.split("/")
            engines[context][mechanism] = engine
        return cls(engines, extra["embedding_model_id"], extra.get("trained_on", "unknown"))
