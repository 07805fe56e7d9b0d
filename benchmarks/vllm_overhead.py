"""JLCE's vLLM backend against raw vLLM on the same engine: generation and scoring.

Every case runs on one engine (the one the backend started), the two sides alternating in order
over `--repeats` timed runs after a warm-up, vLLM's prefix cache emptied before every run (no side
inherits the other's cached blocks). Medians, the spread (min-max) and the best run are printed;
on a shared machine the best is the least disturbed figure. Goal: JLCE / raw <= 1.05. Also
printed: CPU time (the engine runs in this process), engine steps per run, and the wall time
outside `LLMEngine.step` -- the caller's own work, which is what JLCE adds to the engine's; on a
loaded machine it is a steadier measure of JLCE's overhead than wall time.

Cases (`--cases`, comma-separated):
- `generate`: greedy generation, text prompts, `LLM.generate` with the same token budget.
- `short`: JCommonsenseQA-like, `--items` questions x 5 choices, short contexts, no shared prefix.
- `fewshot`: the same with a fixed 3-shot prefix shared by every item (prefix caching matters).
- `long`: JSQuAD-like, `--long-items` passages of about `--long-tokens` tokens x 4 answers.

The raw side of a scoring case is what a vLLM user writes: tokenize the pairs the lm-eval way
(one batched tokenizer call for the contexts, one for context+continuation; timed), then
`LLM.generate` on token prompts with `SamplingParams(max_tokens=1, temperature=0,
prompt_logprobs=0, detokenize=False)` and sum each continuation's prompt log-probs. Two raw
strategies are timed and the faster one is the baseline:
- `flat`: one `LLM.generate` over every pair (vLLM's default for prompt log-probs: the prefix
  cache is not read, so every choice recomputes its context; lm-eval does this);
- `prefix`: the first choice of every context, then the other choices with
  `skip_reading_prefix_cache=False` (the context comes from the prefix cache), rows the cache
  left without log-probs scored again without it (what JLCE does, as two plain calls).
Scores are checked per token: |JLCE - raw| <= 1e-5 x (number of continuation tokens) for every
request, is_greedy identical, and how many are bit-identical is printed.

    python benchmarks/vllm_overhead.py                       # tiny model built on the fly, CPU
    python benchmarks/vllm_overhead.py --size small          # a larger local model (~20 M parameters)
    python benchmarks/vllm_overhead.py --model Qwen/Qwen2.5-0.5B --cases short,fewshot,long
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

CASES = ("generate", "short", "fewshot", "long")
SIZES = {  # locally built models (jlce.tinymodel): the tests' tiny one and a larger one
    "tiny": {},
    "small": {"hidden_size": 512, "layers": 6, "heads": 8, "kv_heads": 4, "vocab_size": 8000},
}


def prompts_for(n: int) -> list[str]:
    from jlce.tinymodel import builtin_corpus

    corpus = builtin_corpus()
    return [f"次の文の続きを書いてください。\n{corpus[i % len(corpus)]}\n続き:" for i in range(n)]


# ---- scoring workloads ------------------------------------------------------------------------

def _question(corpus: list[str], rng: random.Random, answer: int | None = None) -> tuple[str, list[str]]:
    stem = rng.choice(corpus)
    choices = [s[:rng.randint(3, 8)] for s in rng.sample(corpus, 5)]
    text = f"質問: {stem}この文で大切なことは何ですか？\n" + "".join(f"{i}. {c}\n" for i, c in enumerate(choices))
    if answer is not None:
        return text + f"答え: {choices[answer]}\n\n", choices
    return text + "答え:", choices


def mc_pairs(items: int, shots: int, seed: int = 0) -> list[tuple[str, str]]:
    """(context, continuation) pairs: `items` questions x 5 choices, `shots` fixed examples first."""
    from jlce.tinymodel import builtin_corpus

    corpus, rng = builtin_corpus(), random.Random(seed)
    prefix = "以下は日本語の常識問題です。正しい選択肢を答えてください。\n\n" if shots else ""
    prefix += "".join(_question(corpus, rng, rng.randrange(5))[0] for _ in range(shots))
    pairs = []
    for _ in range(items):
        context, choices = _question(corpus, rng)
        pairs += [(prefix + context, " " + choice) for choice in choices]
    return pairs


def long_pairs(items: int, tokens: int, tokenizer, seed: int = 0) -> list[tuple[str, str]]:
    """JSQuAD-like: a passage of about `tokens` tokens, a question, 4 candidate answers."""
    from jlce.tinymodel import builtin_corpus

    corpus, rng = builtin_corpus(), random.Random(seed)
    per_sentence = statistics.mean(len(tokenizer(s, add_special_tokens=False)["input_ids"]) for s in corpus)
    pairs = []
    for _ in range(items):
        passage = "".join(rng.choice(corpus) for _ in range(max(1, int(tokens / per_sentence))))
        context = f"文脈: {passage}\n質問: {rng.choice(corpus)[:10]}のは何ですか？\n答え:"
        pairs += [(context, " " + s[:rng.randint(4, 12)]) for s in rng.sample(corpus, 4)]
    return pairs


@dataclass
class Scores:
    logprob: list[float]
    greedy: list[bool]
    n_tokens: list[int]


def raw_scoring(llm, tokenizer, add_bos: list[int], pairs: list[tuple[str, str]]) -> dict[str, Callable[[], Scores]]:
    """The raw vLLM scoring strategies (see the module docstring), each from text to scores."""
    from vllm import SamplingParams

    def params(read_cache: bool | None) -> SamplingParams:
        return SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0, detokenize=False,
                              skip_reading_prefix_cache=None if read_cache is None else not read_cache)

    def tokenize() -> tuple[list[list[int]], list[list[int]]]:
        contexts = sorted({c for c, _ in pairs})
        ctx_ids = dict(zip(contexts, tokenizer(contexts, add_special_tokens=False)["input_ids"]))
        wholes = tokenizer([c + x for c, x in pairs], add_special_tokens=False)["input_ids"]
        ctx = [add_bos + ctx_ids[c] for c, _ in pairs]
        return ctx, [w[len(c) - len(add_bos):] for c, w in zip(ctx, wholes)]

    def score(output, n_ctx: int, cont: list[int]) -> tuple[float, bool] | None:
        rows = output.prompt_logprobs
        if (output.num_cached_tokens or 0) > n_ctx - 1:
            return None
        total, greedy = 0.0, True
        for offset, token in enumerate(cont):
            entry = rows[n_ctx + offset][token]
            total += float(entry.logprob)
            greedy = greedy and entry.rank == 1
        return total, greedy

    def run(indices: list[int], ctx, cont, p, out: dict[int, tuple[float, bool]]) -> list[int]:
        outputs = llm.generate([{"prompt_token_ids": ctx[i] + cont[i]} for i in indices], p, use_tqdm=False)
        missed = []
        for i, output in zip(indices, outputs):
            result = score(output, len(ctx[i]), cont[i])
            if result is None:
                missed.append(i)
            else:
                out[i] = result
        return missed

    def finish(ctx, cont, out) -> Scores:
        return Scores([out[i][0] for i in range(len(pairs))], [out[i][1] for i in range(len(pairs))],
                      [len(c) for c in cont])

    def flat() -> Scores:
        ctx, cont = tokenize()
        out: dict[int, tuple[float, bool]] = {}
        assert not run(list(range(len(pairs))), ctx, cont, params(None), out)
        return finish(ctx, cont, out)

    def prefix() -> Scores:
        ctx, cont = tokenize()
        first: dict[tuple[int, ...], int] = {}
        for i, c in enumerate(ctx):
            first.setdefault(tuple(c), i)
        leaders = sorted(first.values(), key=lambda i: -len(ctx[i]))
        others = [i for i in range(len(pairs)) if first[tuple(ctx[i])] != i]
        out: dict[int, tuple[float, bool]] = {}
        missed = run(leaders, ctx, cont, params(True), out)
        missed += run(others, ctx, cont, params(True), out)
        if missed:
            assert not run(missed, ctx, cont, params(False), out)
        return finish(ctx, cont, out)

    return {"flat": flat, "prefix": prefix}


def compare(jlce: Scores, raw: Scores) -> str:
    same = sum(a == b for a, b in zip(jlce.logprob, raw.logprob))
    per_token = max(abs(a - b) / max(n, 1) for a, b, n in zip(jlce.logprob, raw.logprob, raw.n_tokens))
    ok = per_token <= 1e-5 and jlce.greedy == raw.greedy and jlce.n_tokens == raw.n_tokens
    return (f"{'OK' if ok else 'DIFFERENT'}: {same}/{len(raw.logprob)} bit-identical, "
            f"max |d logprob| per token {per_token:.1e}, is_greedy {'same' if jlce.greedy == raw.greedy else 'DIFFERS'}")


# ---- timing -----------------------------------------------------------------------------------

class StepClock:
    """Time spent inside `LLMEngine.step` (vLLM's own work: scheduling, the model, log-probs,
    outputs): the rest of a side's wall time is the caller's work (tokenizing, requests, scores,
    batching). Both sides reach the engine through `llm.llm_engine.step`."""

    def __init__(self, llm):
        self.engine, self.step, self.inside, self.steps = llm.llm_engine, llm.llm_engine.step, 0.0, 0

        def timed_step():
            began = time.perf_counter()
            try:
                return self.step()
            finally:
                self.inside += time.perf_counter() - began
                self.steps += 1

        self.engine.step = timed_step

    def close(self) -> None:
        self.engine.step = self.step


def timed(sides: dict[str, Callable[[], object]], repeats: int, reset: Callable[[], None], clock: StepClock):
    """Each side once as warm-up, then `repeats` rounds, the order rotating every round. Returns
    wall times, CPU times of this process (the engine runs in it), wall times outside the engine's
    step and each side's result."""
    names = list(sides)
    results: dict[str, object] = {}
    for name in names:
        reset()
        results[name] = sides[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    outside: dict[str, list[float]] = {name: [] for name in names}
    steps: dict[str, int] = {}
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            reset()
            clock.inside, clock.steps = 0.0, 0
            start, start_cpu = time.perf_counter(), time.process_time()
            sides[name]()
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
            outside[name].append(times[name][-1] - clock.inside)
            steps[name] = clock.steps
    print("  engine steps per run: " + ", ".join(f"{name} {n}" for name, n in steps.items()))
    return times, cpu, outside, results


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):7.3f} s  (min {min(values):.3f}, max {max(values):.3f})"


def report(case: str, detail: str, times: dict[str, list[float]], cpu: dict[str, list[float]],
           outside: dict[str, list[float]], raw_names: list[str]) -> dict[str, float]:
    """Per side: wall and CPU time, time outside the engine's step; the ratio against the faster
    raw strategy (by median wall time)."""
    best_raw = min(raw_names, key=lambda n: statistics.median(times[n]))
    raw, jlce = statistics.median(times[best_raw]), statistics.median(times["jlce"])
    print(f"\n== {case}: {detail}")
    for name, values in times.items():
        print(f"  {name:12s} wall {spread(values)}   CPU median {statistics.median(cpu[name]):7.3f} s   "
              f"outside engine.step median {statistics.median(outside[name]):6.3f} s")
    ratio = jlce / raw
    best_ratio = min(times["jlce"]) / min(times[best_raw])
    cpu_ratio = statistics.median(cpu["jlce"]) / statistics.median(cpu[best_raw])
    extra = (statistics.median(outside["jlce"]) - statistics.median(outside[best_raw])) / raw
    print(f"  ratio JLCE / raw ({best_raw}): median {ratio:.3f}, best-of {best_ratio:.3f}, CPU time {cpu_ratio:.3f}"
          f"  (goal <= 1.05); JLCE's extra work outside the engine: {extra:+.1%} of raw")
    return {"jlce": jlce, "raw": raw, "ratio": ratio, "best": best_ratio, "cpu": cpu_ratio, "raw_name": best_raw,
            "extra": extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model directory or hub id (default: a model built now, see --size)")
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny", help="the locally built model's size")
    parser.add_argument("--cases", default="generate,short,fewshot,long")
    parser.add_argument("--prompts", type=int, default=64, help="generate: prompts")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="generate: new tokens per prompt")
    parser.add_argument("--items", type=int, default=100, help="short/fewshot: questions (x 5 choices)")
    parser.add_argument("--long-items", type=int, default=24, help="long: passages (x 4 answers)")
    parser.add_argument("--long-tokens", type=int, default=1500, help="long: tokens per passage (about)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--raw", default="flat,prefix", help="raw scoring strategies to time (flat, prefix)")
    parser.add_argument("--batch-size", type=int, default=16, help="JLCE's batch size (answers per yielded batch)")
    parser.add_argument("--cache", action="store_true", help="also time JLCE with a request cache committed per batch")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--backend-arg", action="append", default=[], help="KEY=VALUE for the vLLM backend")
    args = parser.parse_args()
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(CASES)}")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")

    from jlce.backend import BackendConfig
    from jlce.backends.vllm.backend import VLLMBackend
    from jlce.cli.common import parse_key_values
    from jlce.requests import GenerateRequest, GenerationParams, LoglikelihoodRequest

    model = args.model
    if model is None:
        from jlce.tinymodel import build_tiny_model

        model = str(build_tiny_model(tempfile.mkdtemp(prefix="jlce-bench-") + f"/{args.size}", seed=0, **SIZES[args.size]))
    backend = VLLMBackend(BackendConfig(model=model, dtype=args.dtype, batch_size=args.batch_size,
                                        options=parse_key_values(args.backend_arg, "--backend-arg")))
    llm, details = backend.llm, backend.describe()
    print(f"model: {model}  vllm {details['vllm_version']} ({details['vllm_build']})  dtype {details['dtype']}  "
          f"max_model_len {backend.max_model_len}  prefix caching {details['kv_cache']['prefix_caching']}  "
          f"JLCE batch size {args.batch_size}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}  ({os.cpu_count()} CPUs)  "
          f"repeats {args.repeats}, order rotating")
    reset, clock = llm.reset_prefix_cache, StepClock(llm)
    summary: list[tuple[str, dict[str, float], str]] = []

    for case in cases:
        load_before = os.getloadavg()[0]
        if case == "generate":
            from vllm import SamplingParams

            texts = prompts_for(args.prompts)
            requests = [GenerateRequest(t, GenerationParams(max_new_tokens=args.max_new_tokens)) for t in texts]
            raw_params = SamplingParams(max_tokens=args.max_new_tokens, temperature=0.0, seed=backend.config.seed)
            sides = {
                "raw": lambda: [list(o.outputs[0].token_ids) for o in llm.generate(texts, raw_params, use_tqdm=False)],
                "jlce": lambda: dict(p for batch, _ in backend.generate_until(requests) for p in batch),
            }
            times, cpu, outside, results = timed(sides, args.repeats, reset, clock)
            detail = f"{args.prompts} prompts x {args.max_new_tokens} new tokens, greedy"
            n_raw = sum(len(t) for t in results["raw"])
            n_jlce = sum(r.n_tokens for r in results["jlce"].values())
            check = f"{n_jlce} vs {n_raw} generated tokens"
            summary.append((case, report(case, detail, times, cpu, outside, ["raw"]), f"{load_before:.2f}-{os.getloadavg()[0]:.2f}"))
            print(f"  outputs: {check}")
            continue
        if case == "long":
            pairs = long_pairs(args.long_items, args.long_tokens, backend.tokenizer)
        else:
            pairs = mc_pairs(args.items, 3 if case == "fewshot" else 0)
        requests = [LoglikelihoodRequest(c, x) for c, x in pairs]

        def jlce_scores(cache=None) -> Scores:
            answers = {}
            for batch, _ in backend.loglikelihood(requests):
                if cache is not None:
                    cache.put_many("bench", [(requests[i], r) for i, r in batch])
                answers.update(batch)
            ordered = [answers[i] for i in range(len(requests))]
            return Scores([r.logprob for r in ordered], [r.is_greedy for r in ordered], [r.n_tokens for r in ordered])

        raw_sides = raw_scoring(llm, backend.tokenizer, backend.encoder.prefix, pairs)
        raw_names = [n for n in raw_sides if n in args.raw.split(",")] or list(raw_sides)
        sides = {"jlce": jlce_scores, **{n: raw_sides[n] for n in raw_names}}
        if args.cache:
            from pathlib import Path

            from jlce.cache import RequestCache

            cache_dir = Path(tempfile.mkdtemp(prefix="jlce-bench-cache-"))
            counter = iter(range(1 << 30))
            sides["jlce+cache"] = lambda: jlce_scores(RequestCache(cache_dir / f"{next(counter)}.sqlite"))
        times, cpu, outside, results = timed(sides, args.repeats, reset, clock)
        ctx_tokens = [len(backend.encoder.pairs([p])[0][0]) for p in pairs[::5 if case != "long" else 4]]
        detail = (f"{len(pairs)} requests, {len(set(c for c, _ in pairs))} contexts of {min(ctx_tokens)}-{max(ctx_tokens)} "
                  f"tokens (median {int(statistics.median(ctx_tokens))})")
        figures = report(case, detail, times, cpu, outside, raw_names)
        if "jlce+cache" in times:
            print(f"  request cache commits add {statistics.median(times['jlce+cache']) / statistics.median(times['jlce']):.3f}x"
                  " to JLCE (median wall)")
        for name in raw_names:
            print(f"  scores JLCE vs raw {name}: {compare(results['jlce'], results[name])}")
        summary.append((case, figures, f"{load_before:.2f}-{os.getloadavg()[0]:.2f}"))

    clock.close()
    print("\n| case | JLCE (s) | raw (s) | JLCE / raw, median | best-of | CPU time | JLCE's extra work outside the engine | 1-min load |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for case, f, load in summary:
        print(f"| {case} | {f['jlce']:.3f} | {f['raw']:.3f} ({f['raw_name']}) | {f['ratio']:.3f} | {f['best']:.3f} | "
              f"{f['cpu']:.3f} | {f['extra']:+.1%} | {load} |")
    backend.close()


if __name__ == "__main__":
    main()
