"""The judge stage of `jlce run`: a judge model (any JLCE backend) rates the answers of the run's
judged tasks (task YAML with a `judge:` block).

The evaluator calls it in three steps: `JudgeRun.prepare` before any model loads (options
checked, judge prompts and references read and verified, a pairwise baseline read), `start`
with the loaded judge backend after the answers are generated, then `judge_task` per judged task
while scoring. Every judgment is a generation request of the judge, cached under the judge's own
fingerprint (a namespace of its own: the same model answering and judging never shares entries),
at temperature 0 by default. A judgment with no rating (after a reasoning judge's `<think>` block
is removed) is asked once more with another seed (at `judge.retry_temperature`: at temperature 0
the same request gives the same text); still none, it counts as a parse failure, shown in the
metrics and never dropped or replaced by a default. Each sample row records the prompts, the raw
judgments, the seeds and the ratings.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jlce.backend import Backend, BackendConfig
from jlce.cache import RequestCache, fingerprint_hash
from jlce.errors import JLCEError, UserError
from jlce.judge.items import JudgeItem, items_from_rows, read_baseline
from jlce.judge.metrics import item_means, judged_metric
from jlce.judge.parse import parse_rating, parse_verdict
from jlce.judge.prompts import load_prompts, load_references
from jlce.judge.requests import JudgeCall, pairwise_calls, single_calls
from jlce.reasoning import DEFAULT_REASONING_TOKENS, is_reasoning_model, strip_reasoning
from jlce.requests import ChatRequest, GenerateResult, GenerationParams

MODES = ("single", "pairwise")


class JudgeFailure(JLCEError):
    """The judge backend raised: the run stops; finished judgments are cached."""


@dataclass(frozen=True)
class JudgeOptions:
    """The run's judge options (RunOptions' `judge_*` fields)."""

    model: str | None = None
    backend: str | None = None
    backend_options: dict[str, Any] = field(default_factory=dict)
    mode: str = "single"
    baseline: Path | None = None

    @classmethod
    def of(cls, options: Any) -> JudgeOptions:
        def get(f: str) -> Any:
            return getattr(options, f"judge_{f}", getattr(cls, f, None))

        return cls(model=get("model"), backend=get("backend"), mode=get("mode"), baseline=get("baseline"),
                   backend_options=dict(getattr(options, "judge_backend_options", None) or {}))


class JudgeRun:
    def __init__(self, options: Any, tasks: Sequence[Any]):
        self.options = options
        self.judge = judge = JudgeOptions.of(options)
        self.mode = judge.mode
        self.tasks = [t for t in tasks if t.config.judge is not None]
        self.prompts = {t.name: load_prompts(t.path, t.name, t.config.judge) for t in self.tasks}
        self.references = {t.name: load_references(t.path, t.name, t.config.judge, fixture=t.data_source == "fixture")
                           for t in self.tasks}
        self.baselines: dict[str, tuple[str, dict[str, list[str]]]] = {}
        for task in self.tasks:
            if self.mode == "pairwise":
                if "pairwise" not in self.prompts[task.name]:
                    raise UserError(f"task '{task.name}' has no pairwise judge prompt (judge.prompts.pairwise)")
                if judge.baseline is None:  # prepare() refuses this before a JudgeRun is made
                    raise UserError("--judge-mode pairwise needs --judge-baseline")
                self.baselines[task.name] = read_baseline(judge.baseline, task.name)
        self.backend: Backend | None = None
        self.cache: RequestCache | None = None
        self.fingerprint: dict[str, Any] = {}
        self.namespace = ""
        self.budget_reasoning = False
        self.stats: Counter[str] = Counter()

    @classmethod
    def prepare(cls, tasks: Sequence[Any], options: Any) -> JudgeRun | None:
        """None when no task is judged, or no judge is named (the answers are recorded, not rated:
        jlce.multiturn says so in results.json); a UserError, before any model loads, for judge
        options that cannot work, or prompts, references or a baseline that cannot be read."""
        judge = JudgeOptions.of(options)
        if not any(t.config.judge is not None for t in tasks):
            if judge.model or judge.mode != "single" or judge.baseline:
                raise UserError("--judge-model, --judge-mode and --judge-baseline apply to judged tasks (e.g. "
                                "japanese_mt_bench); none of the selected tasks is judged")
            return None
        if not judge.model:
            if judge.mode != "single" or judge.baseline or judge.backend or judge.backend_options:
                raise UserError("--judge-backend, --judge-backend-arg, --judge-mode and --judge-baseline need --judge-model")
            return None
        if (judge.mode == "pairwise") != (judge.baseline is not None):
            raise UserError("--judge-mode pairwise needs --judge-baseline (a JLCE run folder or a FastChat answer "
                            "file), and --judge-baseline needs --judge-mode pairwise")
        from jlce.registry import get_registry

        registry = get_registry()
        if judge.backend is None and options.backend not in registry.backends:  # e.g. jlce.evaluate(backend=instance)
            raise UserError(f"name the judge's backend with --judge-backend (judge_backend=): the run's backend "
                            f"'{options.backend}' is not a registered backend")
        from jlce.backendargs import parse_for_spec

        spec = registry.get("backends", judge.backend or options.backend)  # an unknown judge backend fails now
        parse_for_spec(spec, judge.backend_options)  # and so does a bad --judge-backend-arg, before any answer
        return cls(options, tasks)

    def backend_config(self) -> tuple[str, BackendConfig]:
        """The judge's backend name and settings (its own `--judge-backend-arg` options)."""
        from jlce.backendargs import parse_for_spec
        from jlce.registry import get_registry

        o, judge = self.options, self.judge
        if judge.model is None:  # prepare() makes no JudgeRun without one
            raise UserError("judging needs --judge-model")
        name = judge.backend or o.backend
        parsed = parse_for_spec(get_registry().get("backends", name), judge.backend_options)
        return (name, BackendConfig(model=judge.model, dtype=o.dtype, device=o.device, batch_size=o.batch_size,
                                    trust_remote_code=o.trust_remote_code, seed=o.seed, options=parsed))

    def start(self, backend: Backend, cache: RequestCache | None, progress: Any = None) -> None:
        from jlce.identity import model_identity

        self.backend, self.cache, self.progress = backend, cache, progress
        self.fingerprint = model_identity(backend, cache, fingerprint_hash)
        self.namespace = fingerprint_hash({"role": "judge", "fingerprint": self.fingerprint})
        self.budget_reasoning = is_reasoning_model(self.judge.model, *backend.model_names())

    # ---- judging ------------------------------------------------------------------------------

    def judge_task(self, task: Any, rows: list[dict[str, Any]]) -> tuple[dict[str, Any], str]:
        """Judge the task's answers; adds each row's judgments and per-question value, returns the
        task's metrics and the name of its headline metric."""
        judge = task.config.judge
        baseline = self.baselines.get(task.name, (None, None))[1]
        items = items_from_rows(task, rows, self.references[task.name], baseline)
        prompts = self.prompts[task.name]
        build = pairwise_calls if self.mode == "pairwise" else single_calls
        calls = [[*build(judge, prompts, item)] for item in items]
        flat = [call for item_calls in calls for call in item_calls]
        judged = self._judge(flat, judge, pairwise=self.mode == "pairwise")
        categories = {item.question_id: item.category for item in items}
        position = 0
        records: list[dict[str, Any]] = []
        name = "judge_win_rate" if self.mode == "pairwise" else "judge_score"
        for item, row, item_calls in zip(items, rows, calls):
            details = judged[position:position + len(item_calls)]
            position += len(item_calls)
            item_records = (_pairwise_records(item, item_calls, details) if self.mode == "pairwise"
                            else [{"question_id": item.question_id, "turn": c.turn, "value": d["rating"]}
                                  for c, d in zip(item_calls, details)])
            records.extend(item_records)
            row["question_id"], row["category"] = item.question_id, item.category
            row["judgments"] = details
            if self.mode == "pairwise":
                row["outcomes"] = [{"turn": r["turn"], "outcome": r["outcome"]} for r in item_records]
            valid = [(r["question_id"], r["value"]) for r in item_records if r["value"] is not None]
            row.setdefault("metrics", {})[name] = item_means(valid).get(item.question_id) if valid else None
        metric = judged_metric(name, records, categories, judge.scale if self.mode == "single" else (0.0, 1.0),
                               seed=self.options.seed)
        answered = sum(min(item.turns, len(item.baseline)) if item.baseline is not None else item.turns for item in items)
        metric["turns_without_prompt"] = answered - len(records)  # e.g. a third turn: no judge prompt rates it
        if metric["parse_failures"]:  # counted in the metric; said here so nobody misses it
            print(f"jlce: warning: task '{task.name}': {metric['parse_failures']} of {metric['judgments']} judgments "
                  f"({metric['parse_failure_share']:.1%}) gave no rating after a retry (counted, not averaged in)",
                  file=sys.stderr)
        if self.mode == "pairwise":
            counts = Counter(r["outcome"] for r in records)
            metric["baseline"] = self.baselines[task.name][0]
            metric["outcomes"] = {k: counts.get(k, 0) for k in ("win", "tie", "loss", "inconsistent", "unparseable")}
            metric["definition"] = ("per question and turn, both orders: a win needs the model preferred in both, a "
                                    "loss the baseline in both; anything else (a tie, or orders that disagree) is a tie")
        return {name: metric}, name

    def _judge(self, calls: list[JudgeCall], judge: Any, pairwise: bool) -> list[dict[str, Any]]:
        """Each call's judgment: asked, parsed, asked once more when unparseable."""
        patterns = [re.compile(pattern) for pattern in judge.patterns]

        def read(text: str) -> Any:
            low, high = judge.scale
            return parse_verdict(text) if pairwise else parse_rating(text, low, high, patterns=patterns)

        seed = self.options.seed if judge.temperature > 0 else None  # greedy: no seed in the cache key
        retry_seed = self.options.seed + 1  # another seed than any first attempt
        first = self._generate([self._request(c, judge.temperature, seed, judge) for c in calls])
        details = [_detail(c, pairwise) for c in calls]
        retry: list[int] = []
        for index, result in enumerate(first):
            value = read(strip_reasoning(result.text, result.opened_think))
            details[index]["attempts"].append(_attempt(seed, judge.temperature, result, value))
            if value is None:
                retry.append(index)
        if retry:
            again = self._generate([self._request(calls[i], judge.retry_temperature, retry_seed, judge) for i in retry])
            for index, result in zip(retry, again):
                value = read(strip_reasoning(result.text, result.opened_think))
                details[index]["attempts"].append(_attempt(retry_seed, judge.retry_temperature, result, value))
        for detail in details:
            last = detail["attempts"][-1]
            detail["judgment"] = last["judgment"]
            detail["verdict" if pairwise else "rating"] = last["parsed"]
            detail["parse_failed"] = last["parsed"] is None
            self.stats["parse_failures"] += last["parsed"] is None
            self.stats["retried"] += len(detail["attempts"]) > 1
        self.stats["judgments"] += len(details)
        return details

    def _request(self, call: JudgeCall, temperature: float, seed: int | None, judge: Any) -> ChatRequest:
        """One user turn (the rendered prompt) after the prompt's system message, as FastChat asks."""
        budget = judge.max_new_tokens
        if self.budget_reasoning:  # a reasoning judge thinks before its verdict
            budget = max(budget, self.options.reasoning_max_new_tokens or DEFAULT_REASONING_TOKENS)
        return ChatRequest(turns=(call.text,), system=call.prompt.system_prompt or None,
                           params=GenerationParams(until=(), max_new_tokens=budget, temperature=temperature, top_p=1.0,
                                                   seed=seed))

    def _generate(self, requests: list[ChatRequest]) -> list[GenerateResult]:
        """Cached judge answers, in order; the rest asked of the judge backend batch by batch (each
        batch stored before the next, so an interrupted run resumes)."""
        assert self.backend is not None
        cache = self.cache
        saved_engine = cache.engine if cache is not None else None
        if cache is not None:  # the judge's engine is recorded with its answers
            cache.use_engine(getattr(self.backend, "engine", dict)())
        try:
            answers: dict[int, Any] = cache.get_many(self.namespace, requests) if cache is not None else {}
            todo = [i for i in range(len(requests)) if i not in answers]
            self.stats["cache_hits"] += len(answers)
            self.stats["calls"] += len(todo)
            if todo:
                bar = self.progress.add(f"judging ({len(answers)} cached)", total=len(todo)) if self.progress else None
                try:
                    for pairs, _event in self.backend.generate_chat([requests[i] for i in todo]):
                        batch = [(todo[j], result) for j, result in pairs]
                        if cache is not None:
                            cache.put_many(self.namespace, [(requests[i], result) for i, result in batch])
                        answers.update(batch)
                        if bar is not None:
                            self.progress.advance(bar, len(batch))
                except JLCEError:
                    raise
                except Exception as error:
                    raise JudgeFailure(f"the judge ('{self.judge.model}') failed: {type(error).__name__}: {error}. "
                                       "Finished judgments are cached: run the same command again to resume") from error
            if len(answers) != len(requests):
                raise JudgeFailure(f"the judge backend left {len(requests) - len(answers)} judgments unanswered")
            return [answers[i] for i in range(len(requests))]
        finally:
            if cache is not None:
                cache.engine = saved_engine

    def record(self) -> dict[str, Any]:
        """results.json `judge`: who judged, how, and what it cost."""
        backend_name, config = self.backend_config()
        return {
            "model": self.judge.model, "backend": backend_name, "fingerprint": self.fingerprint,
            "fingerprint_hash": fingerprint_hash(self.fingerprint), "cache_namespace": self.namespace,
            "mode": self.mode, "baseline": {t: b[0] for t, b in self.baselines.items()} or None,
            "reasoning_budget": self.budget_reasoning,
            "prompts": {t: {k: p.record() for k, p in prompts.items()} for t, prompts in self.prompts.items()},
            "judgments": self.stats["judgments"], "retried": self.stats["retried"],
            "parse_failures": self.stats["parse_failures"], "cache_hits": self.stats["cache_hits"],
            "calls": self.stats["calls"],
        }

    def close(self, keep: Backend | None = None) -> None:
        if self.backend is not None and self.backend is not keep:
            self.backend.close()
        self.backend = None


def _detail(call: JudgeCall, pairwise: bool) -> dict[str, Any]:
    detail: dict[str, Any] = {"turn": call.turn, "prompt_name": call.prompt.name, "system_prompt": call.prompt.system_prompt,
                              "prompt": call.text, "attempts": []}
    if pairwise:
        detail["order"] = "baseline_first" if call.swapped else "model_first"
    return detail


def _attempt(seed: int | None, temperature: float, result: GenerateResult, value: Any) -> dict[str, Any]:
    attempt: dict[str, Any] = {"seed": seed, "temperature": temperature, "judgment": result.text, "parsed": value,
                               "finish_reason": result.finish_reason, "generated_tokens": result.n_tokens}
    cut = getattr(result.truncation, "prompt_cut", 0) if result.truncation is not None else 0
    if cut:
        attempt["prompt_cut_tokens"] = cut  # the judge's context cut the start of the prompt
    return attempt


def _pairwise_records(item: JudgeItem, calls: list[JudgeCall], details: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Both orders of each turn as one outcome for the model: win (1), tie (1/2), loss (0)."""
    records = []
    for k in range(0, len(calls), 2):
        first, second = details[k]["verdict"], details[k + 1]["verdict"]
        # the model's result in each order: "win", "loss" or "tie"
        order1 = {"A": "win", "B": "loss", "tie": "tie"}.get(first) if first else None
        order2 = {"A": "loss", "B": "win", "tie": "tie"}.get(second) if second else None
        if order1 is None or order2 is None:
            outcome, value = "unparseable", None
        elif order1 == order2:
            outcome, value = order1, {"win": 1.0, "tie": 0.5, "loss": 0.0}[order1]
        else:
            outcome, value = ("inconsistent", 0.5) if "tie" not in (order1, order2) else ("tie", 0.5)
        records.append({"question_id": item.question_id, "turn": calls[k].turn, "value": value, "outcome": outcome})
    return records
