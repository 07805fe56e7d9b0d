"""What k samples per item cost against one: k = 1 vs k = 4 on the transformers and vLLM backends.

The requests are what `jlce run --repeats K --temperature 0.6 --top-p 0.95` sends: per item, k
generation requests with the same prompt and consecutive seeds (`jlce.sampling`). The transformers
backend prefills an item's prompt once and decodes its k samples as rows of one batch; vLLM gets k
requests with one seed each and reuses the prompt through its prefix cache. Every side runs at equal
max tokens (EOS ignored where the engine allows, so each sample generates the full budget), after a
warm-up; the best of `--runs` is reported. Goal: k = 4 takes at most 3x the time of k = 1.

    python benchmarks/sampling_cost.py                          # tiny model built now, both backends, CPU
    python benchmarks/sampling_cost.py --backends transformers --items 32 --max-new-tokens 64
    python benchmarks/sampling_cost.py --model Qwen/Qwen2.5-0.5B --device cuda
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def prompts_for(n: int) -> list[str]:
    from jlce.tinymodel import builtin_corpus

    corpus = builtin_corpus()
    return [f"次の文の続きを書いてください。\n{corpus[i % len(corpus)]}\n続き:" for i in range(n)]


def requests_for(texts: list[str], k: int, max_new_tokens: int) -> list:
    from jlce.requests import GenerateRequest, GenerationParams
    from jlce.sampling import item_seed

    return [GenerateRequest(text, GenerationParams(max_new_tokens=max_new_tokens, temperature=0.6, top_p=0.95,
                                                   seed=item_seed(1234, "bench", i) + j))
            for i, text in enumerate(texts) for j in range(k)]


def load(backend: str, model: str, args):
    from jlce.backend import BackendConfig

    config = BackendConfig(model=model, dtype=args.dtype, device=args.device, batch_size=args.batch_size,
                           options={"ignore_eos": True} if backend == "vllm" else {})
    if backend == "vllm":
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        from jlce.backends.vllm.backend import VLLMBackend

        try:
            return VLLMBackend(config)
        except Exception as error:  # e.g. an unknown ignore_eos option: run without it
            if "ignore_eos" not in str(error):
                raise
            return VLLMBackend(BackendConfig(**{**config.__dict__, "options": {}}))
    from jlce.backends.transformers.backend import TransformersBackend

    backend_obj = TransformersBackend(config)
    backend_obj.eos_ids = set()  # equal max tokens: every sample runs its full budget
    return backend_obj


def measure(backend, requests: list, runs: int) -> tuple[float, int]:
    """(best wall seconds, generated tokens) over `runs` runs."""
    best, tokens = float("inf"), 0
    for _ in range(runs):
        began = time.perf_counter()
        tokens = sum(r.n_tokens for batch, _ in backend.generate_until(requests) for _, r in batch)
        best = min(best, time.perf_counter() - began)
    return best, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model directory or hub id (default: a tiny model built now)")
    parser.add_argument("--backends", default="transformers,vllm")
    parser.add_argument("--items", type=int, default=16)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    model = args.model
    if model is None:
        from jlce.tinymodel import build_tiny_model

        model = str(build_tiny_model(tempfile.mkdtemp(prefix="jlce-bench-") + "/tiny", seed=0))
    texts = prompts_for(args.items)
    print(f"model {model}: {args.items} items, k = 1 vs k = {args.k}, {args.max_new_tokens} new tokens per sample, "
          f"temperature 0.6, top-p 0.95, best of {args.runs}")
    print(f"{'backend':<13}{'k':>3}{'samples':>9}{'tokens':>9}{'seconds':>10}{'tokens/s':>11}{'time vs k=1':>13}")
    for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
        try:
            backend = load(name, model, args)
        except ImportError as error:
            print(f"{name:<13}skipped: {error}")
            continue
        try:
            measure(backend, requests_for(texts[:2], args.k, args.max_new_tokens), 1)  # warm-up
            base = None
            for k in (1, args.k):
                seconds, tokens = measure(backend, requests_for(texts, k, args.max_new_tokens), args.runs)
                base = base or seconds
                verdict = "" if k == 1 else ("  (goal <= 3x: met)" if seconds <= 3 * base else "  (goal <= 3x: MISSED)")
                print(f"{name:<13}{k:>3}{args.items * k:>9}{tokens:>9}{seconds:>10.3f}{tokens / seconds:>11.1f}"
                      f"{seconds / base:>12.2f}x{verdict}")
        finally:
            backend.close()


if __name__ == "__main__":
    main()
