"""Measured quantities of a run, as claim checks name them (docs/claims.md lists them all).

Three kinds, which decide how uncertainty is estimated:

- `metric`: a task metric, from per-item scores in samples/<task>.jsonl (Bayesian bootstrap over
  items); `acc(A, jcommonsenseqa)`, `score(A, task)` (the task's primary metric), `metric(A, task, name)`.
- `per_run`: speed, latency, memory and energy, which vary from run to run (bootstrap over
  repeated runs of the same model);
- `exact`: arithmetic on the model or its tokenizer (KV bytes per token, parameter counts,
  characters per token), the same in every run.

An extractor returns a number or raises `Unmeasured` with the reason; a quantity a run did not
measure is never guessed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from jlce.errors import did_you_mean
from jlce.results import read_results

Kind = Literal["metric", "per_run", "exact"]
REQUEST_KINDS = ("all", "loglikelihood", "loglikelihood_rolling", "generate_until")
PERCENTILES = ("mean", "p50", "p90", "p99", "max")


class Unmeasured(Exception):
    """The run did not measure this quantity (the message says what is missing)."""


@dataclass(frozen=True)
class RunRecord:
    """One run directory, with the hashes that identify what a verdict was based on."""

    path: Path
    results: Mapping[str, Any]
    run_id: str
    model: str
    fingerprint_hash: str
    created_at: str
    results_sha256: str
    provenance_sha256: str | None

    @property
    def ref(self) -> str:
        """How messages name this run: its id and its directory (ids of old runs may collide)."""
        return f"{self.run_id} ({self.path})"

    def identity(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "path": str(self.path), "model": self.model,
                "fingerprint_hash": self.fingerprint_hash, "results_sha256": self.results_sha256,
                "provenance_sha256": self.provenance_sha256}


def load_run_record(path: str | Path) -> RunRecord:
    path = Path(path)
    results = read_results(path)
    raw = (path / "results.json").read_bytes()
    provenance = results.get("provenance")
    model = results.get("model") or {}
    return RunRecord(
        path=path, results=results, run_id=str(results.get("run_id", path.name)), model=str(model.get("name", "")),
        fingerprint_hash=str(model.get("fingerprint_hash", "")), created_at=str(results.get("created_at", "")),
        results_sha256=hashlib.sha256(raw).hexdigest(),
        provenance_sha256=hashlib.sha256(json.dumps(provenance, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        if provenance else None,
    )


@dataclass(frozen=True)
class QuantityDef:
    name: str
    kind: Kind
    unit: str
    description: str
    args: tuple[str, ...]  # extra arguments after the label; a trailing "?" marks an optional one
    extract: Callable[[RunRecord, tuple[str, ...]], float]

    @property
    def signature(self) -> str:
        extra = "".join(f"[, {a[:-1]}]" if a.endswith("?") else f", {a}" for a in self.args)
        return f"{self.name}(run{extra})"


def _get(data: Any, *keys: str | int) -> Any:
    for key in keys:
        if isinstance(data, Mapping) and key in data:
            data = data[key]
        elif isinstance(data, list) and isinstance(key, int) and 0 <= key < len(data):
            data = data[key]
        else:
            return None
    return data


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Unmeasured(f"{what} is not recorded")
    return float(value)


def _profile(run: RunRecord, name: str) -> Mapping[str, Any]:
    section = _get(run.results, "profile", name)
    if not isinstance(section, Mapping):
        raise Unmeasured(f"run {run.ref} has no profile.{name} (the {name} profiler did not run)")
    if section.get("available") is False:
        raise Unmeasured(f"run {run.ref}: profile.{name} unavailable ({section.get('reason') or 'no reason given'})")
    return section


def _throughput(run: RunRecord, kind: str) -> Mapping[str, Any]:
    section = _get(_profile(run, "timing"), "throughput", kind)
    if not isinstance(section, Mapping) or not section.get("batches"):
        raise Unmeasured(f"run {run.ref} timed no {kind} batches (answers from the cache are not timed)")
    return section


def _kind(args: tuple[str, ...]) -> str:
    return args[0] if args else "all"


def _rate(count_field: str, what: str) -> Callable[[RunRecord, tuple[str, ...]], float]:
    def extract(run: RunRecord, args: tuple[str, ...]) -> float:
        t = _throughput(run, _kind(args))
        count = sum(_number(t.get(f), f"throughput.{_kind(args)}.{f}") for f in count_field.split("+"))
        busy = _number(t.get("batch_seconds"), "batch_seconds")
        if count <= 0:
            raise Unmeasured(f"run {run.ref} processed no {what} ({_kind(args)})")
        if busy <= 0:
            raise Unmeasured(f"run {run.ref}: no batch time recorded")
        return count / busy
    return extract


def _latency(field: str, stat: str) -> Callable[[RunRecord, tuple[str, ...]], float]:
    def extract(run: RunRecord, args: tuple[str, ...]) -> float:
        summary = _throughput(run, _kind(args)).get(field)
        if not isinstance(summary, Mapping):
            raise Unmeasured(f"run {run.ref} recorded no {field} for {_kind(args)} (the backend does not measure it)")
        return _number(summary.get(stat), f"{field}.{stat}")
    return extract


def _wall_seconds(run: RunRecord, args: tuple[str, ...]) -> float:
    return _number(_profile(run, "timing").get("wall_seconds"), "timing.wall_seconds")


def _peak_rss(run: RunRecord, args: tuple[str, ...]) -> float:
    return _number(_get(_profile(run, "memory"), "process", "peak_rss_bytes"), "memory.process.peak_rss_bytes")


def _peak_gpu(run: RunRecord, args: tuple[str, ...]) -> float:
    devices = _profile(run, "memory").get("devices") or []
    raw = [d.get("peak_used_bytes") for d in devices if isinstance(d, Mapping)]
    peaks = [p for p in raw if isinstance(p, (int, float))]
    if not peaks or len(peaks) < len(raw):
        raise Unmeasured(f"run {run.ref} watched no GPU memory (no NVML/AMD SMI device)")
    return float(sum(peaks))


def _peak_torch(run: RunRecord, args: tuple[str, ...]) -> float:
    entries = _profile(run, "memory").get("torch") or []
    raw = [e.get("peak_allocated_bytes") for e in entries if isinstance(e, Mapping)]
    peaks = [p for p in raw if isinstance(p, (int, float))]
    if not peaks or len(peaks) < len(raw):
        raise Unmeasured(f"run {run.ref} has no torch device memory statistics")
    return float(sum(peaks))


def _kv_bytes(run: RunRecord, args: tuple[str, ...]) -> float:
    try:
        return _number(_profile(run, "kvcache").get("bytes_per_token"), "kvcache.bytes_per_token")
    except Unmeasured as error:
        value = _get(run.results, "model", "details", "kv_bytes_per_token")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise error from None


def _kv_at_max(run: RunRecord, args: tuple[str, ...]) -> float:
    return _number(_profile(run, "kvcache").get("bytes_at_max_context"), "kvcache.bytes_at_max_context")


def _detail(field: str) -> Callable[[RunRecord, tuple[str, ...]], float]:
    def extract(run: RunRecord, args: tuple[str, ...]) -> float:
        return _number(_get(run.results, "model", "details", field), f"model.details.{field} of run {run.ref}")
    return extract


def _token_stats(run: RunRecord, args: tuple[str, ...]) -> list[Mapping[str, Any]]:
    tasks = _profile(run, "tokenizer_stats").get("tasks") or {}
    if args:
        if args[0] not in tasks:
            raise Unmeasured(f"run {run.ref} has no tokenizer statistics for task '{args[0]}'"
                             f"{did_you_mean(args[0], list(tasks))}")
        return [tasks[args[0]]]
    if not tasks:
        raise Unmeasured(f"run {run.ref} has no tokenizer statistics")
    return list(tasks.values())


def _content_tokens(entry: Mapping[str, Any]) -> float:
    return float(entry.get("tokens", 0)) - float(entry.get("special_tokens_per_text") or 0) * float(entry.get("texts", 0))


def _chars_per_token(run: RunRecord, args: tuple[str, ...]) -> float:
    entries = _token_stats(run, args)
    tokens = sum(_content_tokens(e) for e in entries)
    if tokens <= 0:
        raise Unmeasured(f"run {run.ref}: no tokens counted")
    return sum(float(e.get("chars", 0)) for e in entries) / tokens


def _tokens_per_morpheme(run: RunRecord, args: tuple[str, ...]) -> float:
    entries = _token_stats(run, args)
    raw = [e.get("morphemes") for e in entries]
    morphemes = [m for m in raw if isinstance(m, (int, float))]
    if len(morphemes) < len(raw) or sum(morphemes) <= 0:
        raise Unmeasured(f"run {run.ref} counted no morphemes (fugashi/unidic-lite missing, or morphemes off)")
    return sum(_content_tokens(e) for e in entries) / sum(morphemes)


def _energy(field: str) -> Callable[[RunRecord, tuple[str, ...]], float]:
    def extract(run: RunRecord, args: tuple[str, ...]) -> float:
        return _number(_profile(run, "energy").get(field), f"energy.{field} of run {run.ref}")
    return extract


def _energy_per_token(run: RunRecord, args: tuple[str, ...]) -> float:
    joules = _number(_profile(run, "energy").get("joules"), "energy.joules")
    t = _throughput(run, "all")
    tokens = float(t.get("prompt_tokens") or 0) + float(t.get("generated_tokens") or 0)
    if tokens <= 0:
        raise Unmeasured(f"run {run.ref} processed no tokens")
    return joules / tokens


def _catalog() -> dict[str, QuantityDef]:
    q: list[QuantityDef] = [
        QuantityDef("tokens_per_s", "per_run", "tokens/s", "prompt + generated tokens per second of batch time",
                    ("kind?",), _rate("prompt_tokens+generated_tokens", "tokens")),
        QuantityDef("prompt_tokens_per_s", "per_run", "tokens/s", "prompt tokens per second of batch time",
                    ("kind?",), _rate("prompt_tokens", "prompt tokens")),
        QuantityDef("generated_tokens_per_s", "per_run", "tokens/s", "generated tokens per second of batch time",
                    ("kind?",), _rate("generated_tokens", "generated tokens")),
        QuantityDef("requests_per_s", "per_run", "requests/s", "requests answered per second of batch time",
                    ("kind?",), _rate("requests", "requests")),
        QuantityDef("inference_seconds", "per_run", "s", "seconds the backend spent in batches",
                    ("kind?",), lambda run, args: _number(_throughput(run, _kind(args)).get("batch_seconds"), "batch_seconds")),
        QuantityDef("wall_seconds", "per_run", "s", "the run's wall time", (), _wall_seconds),
        QuantityDef("peak_rss_bytes", "per_run", "B", "peak resident memory of the JLCE process", (), _peak_rss),
        QuantityDef("peak_gpu_memory_bytes", "per_run", "B", "peak device memory, summed over watched GPUs", (), _peak_gpu),
        QuantityDef("peak_torch_memory_bytes", "per_run", "B", "torch's peak allocated device memory, summed", (), _peak_torch),
        QuantityDef("energy_joules", "per_run", "J", "GPU energy over the run", (), _energy("joules")),
        QuantityDef("mean_watts", "per_run", "W", "mean GPU power over the run", (), _energy("mean_watts")),
        QuantityDef("energy_per_token", "per_run", "J/token", "GPU joules per prompt + generated token", (), _energy_per_token),
        QuantityDef("energy_per_generated_token", "per_run", "J/token", "GPU joules per generated token", (),
                    _energy("joules_per_generated_token")),
        QuantityDef("energy_per_request", "per_run", "J", "GPU joules per request", (), _energy("joules_per_request")),
        QuantityDef("kv_bytes_per_token", "exact", "B", "KV-cache bytes per token, from the model config", (), _kv_bytes),
        QuantityDef("kv_bytes_at_max_context", "exact", "B", "KV-cache bytes of one sequence at maximum length", (), _kv_at_max),
        QuantityDef("n_parameters", "exact", "", "parameters of the loaded model", (), _detail("n_parameters")),
        QuantityDef("vocab_size", "exact", "", "tokenizer vocabulary size", (), _detail("vocab_size")),
        QuantityDef("chars_per_token", "exact", "chars/token", "characters per token of the tasks' prompts",
                    ("task?",), _chars_per_token),
        QuantityDef("tokens_per_morpheme", "exact", "tokens/morpheme", "tokens per MeCab morpheme of the tasks' prompts",
                    ("task?",), _tokens_per_morpheme),
    ]
    for stat in PERCENTILES:
        for prefix, field, what in (("latency", "request_latency_s", "per-request latency (batch time / size)"),
                                    ("batch_latency", "batch_latency_s", "batch latency"),
                                    ("ttft", "ttft_s", "time to first token"), ("tpot", "tpot_s", "time per output token")):
            q.append(QuantityDef(f"{prefix}_{stat}", "per_run", "s", f"{what}, {stat}", ("kind?",), _latency(field, stat)))
    return {d.name: d for d in q}


CATALOG: dict[str, QuantityDef] = _catalog()
METRIC_FUNCTIONS = ("score", "metric")  # score(A, task): primary metric; metric(A, task, name)


# Names that are no longer quantities, and why (a claims file using one gets this as its error).
RETIRED = {
    "peak_memory_bytes": "it answered GPU memory with host RSS on machines without a GPU; device and host memory are "
                         "different quantities: write peak_gpu_memory_bytes (device, UNMEASURED on a CPU-only run) or "
                         "peak_rss_bytes (host process)",
}


def check_quantity(name: str, args: tuple[str, ...]) -> None:
    """Raise ValueError when `name(label, *args)` cannot name a quantity."""
    if name in RETIRED:
        raise ValueError(f"{name} is not a quantity: {RETIRED[name]}")
    if name in CATALOG:
        d = CATALOG[name]
        required = sum(not a.endswith("?") for a in d.args)
        if not required <= len(args) <= len(d.args):
            raise ValueError(f"{name} takes {d.signature}, got {1 + len(args)} argument{'s' if args else ''}")
        for spec, value in zip(d.args, args):
            if spec.rstrip("?") == "kind" and value not in REQUEST_KINDS:
                raise ValueError(f"{name}: unknown request kind '{value}'{did_you_mean(value, REQUEST_KINDS)}; "
                                 f"known: {', '.join(REQUEST_KINDS)}")
        return
    expected = 2 if name == "metric" else 1
    if len(args) == expected:
        return  # a task metric: acc(A, task), score(A, task), metric(A, task, name)
    if len(args) == 0:
        raise ValueError(f"unknown quantity '{name}'{did_you_mean(name, list(CATALOG))}; "
                         f"task metrics are written {name}(run, task)")
    shape = "metric(run, task, metric_name)" if name == "metric" else f"{name}(run, task)"
    raise ValueError(f"{name} is read as a task metric, written {shape}")


def kind_of(name: str) -> Kind:
    return CATALOG[name].kind if name in CATALOG else "metric"


def metric_target(run: RunRecord, name: str, args: tuple[str, ...]) -> tuple[str, str]:
    """(task, metric name) of a metric quantity; raises Unmeasured when the run lacks either."""
    task = args[0]
    tasks = run.results.get("tasks") or {}
    entry = tasks.get(task)
    if not isinstance(entry, Mapping):
        skipped = (run.results.get("skipped_tasks") or {}).get(task)
        why = f" (skipped: {skipped})" if skipped else did_you_mean(task, list(tasks))
        raise Unmeasured(f"run {run.ref} did not evaluate task '{task}'{why}")
    metric = args[1] if name == "metric" else (entry.get("primary_metric") if name == "score" else name)
    metrics = entry.get("metrics") or {}
    if not metric or metric not in metrics:
        raise Unmeasured(f"run {run.ref}, task '{task}' has no metric '{metric}'{did_you_mean(str(metric), list(metrics))}")
    return task, str(metric)
