"""Embedding throughput on one GPU (issue #14: labels >= 20k real-length posts/s on an H100/H200).

Real Reddit self-posts (Dreaddit and CAMS, ~170 tokens each), repeated to `--posts`, embedded by the
shipped torch backend (fp16, token windows, batches of like length, the next step tokenised while the GPU
runs this one), against plain SentenceTransformer.encode in fp32 (the baseline the issue measured: 3,450
texts/s on an H200). Also: tokenising alone (the CPU side), the GPU alone on windows cut beforehand, two
batch sizes, and the fp16 vectors' cosine to fp32's.

    python bench/gpu_labels.py [--texts-file posts.jsonl.gz] [--posts 200000] [--out results.json] [--diagnose]
    python bench/gpu_labels.py --prepare FOLDER   # here: what a GPU machine without ../shared needs

`--prepare`: writes FOLDER/model (the packaged model with fp16 weights: 45 MB, where the lent machine takes
64 MiB a call) and FOLDER/real_posts.jsonl.gz, then stops; there, run with STIGMA_INSIGHTS_MODEL_PATH=
FOLDER/model and --texts-file FOLDER/real_posts.jsonl.gz (results: bench/results/gpu_labels_h100.json).

`--diagnose`: also the transformer's forward alone on fixed batches (fp16 and fp32, with and without
padding, each attention implementation) and a profile of the busiest operations (to `--out`'s folder).
`--texts-file`: one JSON string per line (default: the real posts in ../shared/data). The model comes from
STIGMA_INSIGHTS_MODEL_PATH where the model package is not installed.
"""

import argparse
import gzip
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stigma_insights.assets.labels import embedding  # noqa: E402
from stigma_insights.settings import Settings  # noqa: E402

ISSUE_H200_BASELINE = 3_450  # plain encode, texts/s, as issue #14 measured it


def real_posts(path: Path | None) -> list[str]:
    if path is None:
        from generate_landing import shared_real_texts

        return shared_real_texts()
    with gzip.open(path, "rt") if path.suffix == ".gz" else path.open() as lines:
        return [json.loads(line) for line in lines]


def prepare(folder: Path) -> None:
    import shutil

    import polars as pl
    from safetensors.torch import load_file, save_file

    from generate_landing import SHARED_DATA

    source = Path(embedding.model_folder(Settings.from_env().embedding))
    shutil.copytree(source, folder / "model", ignore=shutil.ignore_patterns("model.safetensors"), dirs_exist_ok=True)
    weights = load_file(source / "model.safetensors")
    save_file({name: tensor.half() for name, tensor in weights.items()}, folder / "model" / "model.safetensors")

    files = [("dreaddit/train.csv", "text"), ("dreaddit/test.csv", "text")] + [
        (f"cams/{name}.csv", "selftext") for name in ("IntentSDCNL_Training", "IntentSDCNL_Testing", "added_CAMS_data")
    ]
    texts = [
        text
        for path, column in files
        for text in pl.read_csv(SHARED_DATA / path, encoding="utf8-lossy", infer_schema=False)[column].to_list()
        if text and text.strip()
    ]
    with gzip.open(folder / "real_posts.jsonl.gz", "wt") as lines:
        lines.writelines(json.dumps(text) + "\n" for text in texts)
    print(f"{folder}: model with fp16 weights, {len(texts):,} real posts")


def timed(function, *args) -> tuple[float, object]:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    result = function(*args)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - started, result


def forward_rate(transformer, ids, mask, repeats: int = 20) -> float:
    """Tokens/s of the transformer's forward alone on one batch (median of `repeats`)."""
    import torch

    times = []
    with torch.inference_mode():
        for _ in range(repeats + 3):
            seconds, _ = timed(lambda: transformer(input_ids=ids, attention_mask=mask).last_hidden_state)
            times.append(seconds)
    return ids.numel() / float(np.median(times[3:]))


def diagnose(encoder, windows, figures: dict, out_folder: Path | None) -> None:
    import torch
    from torch.profiler import ProfilerActivity, profile

    device, transformer = encoder.device, encoder.transformer
    ids = torch.randint(1000, 29000, (256, 256), device=device)
    full = torch.ones_like(ids)
    padded = (torch.arange(256, device=device) < torch.randint(64, 257, (256, 1), device=device)).long()
    rates = {}
    for implementation in ("sdpa", "eager"):
        try:
            transformer.set_attn_implementation(implementation)
        except Exception as error:  # noqa: BLE001 - a diagnostic: report and go on
            rates[implementation] = repr(error)
            continue
        for precision in ("fp16", "fp32"):
            (transformer.half if precision == "fp16" else transformer.float)()
            for name, mask in (("no_padding", full), ("padding", padded)):
                key = f"{implementation}_{precision}_{name}"
                rates[key] = round(forward_rate(transformer, ids, mask))
                print(f"forward {key}: {rates[key]:,} tokens/s", flush=True)
    transformer.set_attn_implementation("sdpa")
    transformer.half()
    figures["forward_tokens_per_s_256x256"] = rates
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as profiler:
        encoder.encode_windows(windows)  # ends with the copy back: the GPU has finished
    table = profiler.key_averages().table(sort_by="cuda_time_total", row_limit=15)
    cpu_table = profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=15)
    if out_folder:
        (out_folder / "gpu_profile.txt").write_text(table + "\n\n" + cpu_table)
    print(table[-4000:], flush=True)


def main() -> None:
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--texts-file", type=Path)
    parser.add_argument("--posts", type=int, default=200_000)
    parser.add_argument("--baseline-posts", type=int, default=20_000)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--diagnose", action="store_true")
    parser.add_argument("--prepare", type=Path, metavar="FOLDER")
    args = parser.parse_args()
    if args.prepare:
        prepare(args.prepare)
        return
    corpus = real_posts(args.texts_file)
    posts = (corpus * (args.posts // len(corpus) + 1))[: args.posts]
    settings = Settings.from_env().embedding
    minilm = embedding.MiniLM(settings)
    device = embedding.torch_device(settings.device)
    figures: dict = {
        "device": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu",
        "cpus": embedding.cpus_to_use(),
        "torch": torch.__version__,
        "model_id": minilm.model_id,
        "real_posts": len(corpus),
        "posts": len(posts),
    }
    print(json.dumps(figures), flush=True)
    encoder = embedding.load_encoder(settings)
    minilm.embed(posts[:2_000])  # model on the device, kernels chosen

    def record(name: str, seconds: float, count: int, unit: str = "posts") -> None:
        figures[name] = {"seconds": round(seconds, 3), f"{unit}_per_s": round(count / seconds, 1)}
        print(f"{name}: {count / seconds:,.0f} {unit}/s ({count:,} in {seconds:.2f} s)", flush=True)

    seconds, windows = timed(encoder.cutter.cut, posts)
    record("tokenise_only", seconds, len(posts))
    figures["tokens_per_post"] = round(len(windows.tokens) / len(posts), 1)
    figures["windows_per_post"] = round(len(windows) / len(posts), 3)
    seconds, _ = timed(encoder.encode_windows, windows)
    record("gpu_only_windows_cut_before", seconds, len(posts))
    record("gpu_only_tokens", seconds, len(windows.tokens), "tokens")
    if args.diagnose:
        diagnose(encoder, encoder.cutter.cut(posts[:20_000]), figures, args.out.parent if args.out else None)

    defaults = embedding.GPU_TOKENS_PER_BATCH, encoder.texts_per_step
    for tokens_per_batch, texts_per_step in (defaults, (defaults[0] // 4, defaults[1]), (defaults[0], defaults[1] * 4)):
        embedding.GPU_TOKENS_PER_BATCH, encoder.texts_per_step = tokens_per_batch, texts_per_step
        seconds, _ = timed(minilm.embed, posts)
        record(f"embed_batch_{tokens_per_batch}_tokens_step_{texts_per_step}_posts", seconds, len(posts))
    embedding.GPU_TOKENS_PER_BATCH, encoder.texts_per_step = defaults

    sample = corpus[:5_000]
    fast = minilm.embed(sample)
    encoder.transformer.float()  # the same windows in fp32
    exact = minilm.embed(sample)
    encoder.transformer.half()
    cosine = (fast * exact).sum(axis=1)
    figures["fp16_vs_fp32_cosine"] = {"min": float(cosine.min()), "mean": float(cosine.mean())}
    print(f"fp16 vs fp32 cosine: min {cosine.min():.5f}, mean {cosine.mean():.6f}", flush=True)

    plain = embedding.load_sentence_transformer(settings).float()
    baseline_posts = posts[: args.baseline_posts]
    plain.encode(baseline_posts[:512], batch_size=64)
    seconds, _ = timed(lambda texts: plain.encode(texts, batch_size=64), baseline_posts)
    record("plain_encode_fp32_baseline", seconds, len(baseline_posts))

    best = max(value["posts_per_s"] for key, value in figures.items() if key.startswith("embed_"))
    figures["speedup_vs_plain_encode"] = round(best / figures["plain_encode_fp32_baseline"]["posts_per_s"], 2)
    print(
        f"\nSUMMARY on {figures['device']} ({figures['cpus']} CPUs): embed {best:,.0f} real posts/s"
        f" ({figures['tokens_per_post']} tokens, {figures['windows_per_post']} windows each);"
        f" plain encode {figures['plain_encode_fp32_baseline']['posts_per_s']:,.0f}"
        f" (issue's H200 figure {ISSUE_H200_BASELINE:,}); x{figures['speedup_vs_plain_encode']};"
        f" tokenising alone {figures['tokenise_only']['posts_per_s']:,.0f}/s,"
        f" GPU alone {figures['gpu_only_windows_cut_before']['posts_per_s']:,.0f}/s",
        flush=True,
    )
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    main()
