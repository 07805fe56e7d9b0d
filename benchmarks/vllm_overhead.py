"""JLCE's vLLM backend against raw `vllm.LLM.generate` on the same generation workload.

Both run on one engine (the one the backend started), greedy, with the same prompts and token
budget; raw vLLM gets the text prompts as a user would pass them. Each side runs `--repeats` times
after a warm-up, alternating; the median and the best wall time are reported (on a shared
machine the best is the least disturbed figure). Goal: JLCE / raw <= 1.10.

    python benchmarks/vllm_overhead.py                      # tiny model built on the fly, CPU
    python benchmarks/vllm_overhead.py --model Qwen/Qwen2.5-0.5B --prompts 512 --max-new-tokens 128
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time


def prompts_for(n: int) -> list[str]:
    from jlce.tinymodel import builtin_corpus

    corpus = builtin_corpus()
    return [f"次の文の続きを書いてください。\n{corpus[i % len(corpus)]}\n続き:" for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model directory or hub id (default: a tiny model built now)")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--backend-arg", action="append", default=[], help="KEY=VALUE for the vLLM backend")
    args = parser.parse_args()
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

    from jlce.backend import BackendConfig
    from jlce.backends.vllm.backend import VLLMBackend
    from jlce.cli.common import parse_key_values
    from jlce.requests import GenerateRequest, GenerationParams

    model = args.model
    if model is None:
        from jlce.tinymodel import build_tiny_model

        model = str(build_tiny_model(tempfile.mkdtemp(prefix="jlce-bench-") + "/tiny", seed=0))
    backend = VLLMBackend(BackendConfig(model=model, dtype=args.dtype, batch_size=args.prompts,
                                        options=parse_key_values(args.backend_arg, "--backend-arg")))
    from vllm import SamplingParams

    texts = prompts_for(args.prompts)
    requests = [GenerateRequest(t, GenerationParams(max_new_tokens=args.max_new_tokens)) for t in texts]
    raw_params = SamplingParams(max_tokens=args.max_new_tokens, temperature=0.0, seed=backend.config.seed)

    def run_jlce() -> int:
        return sum(r.n_tokens for batch, _ in backend.generate_until(requests) for _, r in batch)

    def run_raw() -> int:
        outputs = backend.llm.generate(texts, raw_params, use_tqdm=False)
        return sum(len(o.outputs[0].token_ids) for o in outputs)

    engine = backend.llm.llm_engine
    step, in_step = engine.step, [0.0]

    def timed_step():  # time inside the engine, to separate JLCE's own work from vLLM's
        began = time.perf_counter()
        try:
            return step()
        finally:
            in_step[0] += time.perf_counter() - began

    engine.step = timed_step
    run_raw(), run_jlce()  # warm-up
    times: dict[str, list[float]] = {"raw": [], "jlce": []}
    outside: dict[str, list[float]] = {"raw": [], "jlce": []}
    tokens: dict[str, int] = {}
    sides = (("raw", run_raw), ("jlce", run_jlce))
    for repeat in range(args.repeats):
        for name, fn in sides if repeat % 2 == 0 else sides[::-1]:  # alternate the order against drift
            in_step[0] = 0.0
            start = time.perf_counter()
            tokens[name] = fn()
            times[name].append(time.perf_counter() - start)
            outside[name].append(times[name][-1] - in_step[0])
    engine.step = step
    details = backend.describe()
    print(f"model: {model}  vllm {details['vllm_version']} ({details['vllm_build']})  dtype {details['dtype']}")
    print(f"workload: {args.prompts} prompts x {args.max_new_tokens} new tokens, greedy, {args.repeats} repeats")
    for label, pick in (("median", statistics.median), ("best", min)):
        raw, jlce = pick(times["raw"]), pick(times["jlce"])
        print(f"[{label}] raw LLM.generate : {raw:8.3f} s  ({tokens['raw']} tokens, {tokens['raw'] / raw:8.1f} tok/s)")
        print(f"[{label}] JLCE vllm backend: {jlce:8.3f} s  ({tokens['jlce']} tokens, {tokens['jlce'] / jlce:8.1f} tok/s)")
        print(f"[{label}] ratio JLCE / raw : {jlce / raw:8.3f}  (goal <= 1.10)")
    raw_out, jlce_out = statistics.median(outside["raw"]), statistics.median(outside["jlce"])
    print(f"time outside engine.step (median): raw {raw_out:.3f} s, JLCE {jlce_out:.3f} s "
          f"(JLCE's own work: tokenizing, requests, decoding, batching)")
    backend.close()


if __name__ == "__main__":
    main()
