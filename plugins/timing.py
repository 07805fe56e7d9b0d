"""Timing profiler: wall time per stage and per task, throughput and latency percentiles.

Stage times are measured on this profiler's own monotonic clock between `jlce_stage_start` and
`jlce_stage_end`, so they are comparable with the run's wall time (from `jlce_run_start` to
`jlce_run_end`). Throughput is over the backend's batch time: requests answered from the cache do
not fire `jlce_after_batch` and are not counted. Time to first token and time per output token
come from `BatchEvent.extra["ttft_s"]` / `["tpot_s"]` (a number or a list, one per request) when
the backend measures them. A run on data-parallel replicas (`--replicas N`) also gets
`replicas`: per replica its units, requests, busy time, rate, share and re-queues/deaths
(`jlce.plugins._replica_load`).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from jlce.hookspecs import hookimpl
from jlce.plugins._replica_load import ReplicaLoad, replica_health
from jlce.specs import ProfilerSpec

PERCENTILES = (50, 90, 99)


@hookimpl
def jlce_register_profilers(register):
    register(ProfilerSpec("timing", "jlce.plugins.timing:TimingProfiler",
                          description="wall time per stage and task, throughput, latency percentiles, TTFT/TPOT"))


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) of `values`, interpolating linearly between closest ranks:
    `numpy.percentile(values, q, method="linear")`."""
    if not values:
        raise ValueError("percentile of no values")
    import numpy as np  # here: loading the plugin (for `jlce ls`) stays light

    return float(np.percentile(values, q, method="linear"))


def summarize(values: Iterable[float]) -> dict[str, float] | None:
    """count, mean, p50, p90, p99 and max of `values`; None when there are none."""
    ordered = sorted(float(v) for v in values)
    if not ordered:
        return None
    summary = {"count": len(ordered), "mean": sum(ordered) / len(ordered)}
    summary.update({f"p{q}": percentile(ordered, q) for q in PERCENTILES})
    summary["max"] = ordered[-1]
    return summary


def union_seconds(intervals: Iterable[tuple[float, float]]) -> float:
    """Total length covered by possibly overlapping [start, end] intervals."""
    total = 0.0
    current: tuple[float, float] | None = None  # the union's interval being extended
    for start, end in sorted(intervals):
        if current is None or start > current[1]:
            if current is not None:
                total += current[1] - current[0]
            current = (start, end)
        else:
            current = (current[0], max(current[1], end))
    if current is not None:
        total += current[1] - current[0]
    return total


def _per_request(extra: Mapping[str, Any], *keys: str) -> list[float]:
    for key in keys:
        value = extra.get(key)
        if value is None:
            continue
        if isinstance(value, (int, float)):
            return [float(value)]
        return [float(v) for v in value if v is not None]
    return []


class _KindStats:
    __slots__ = ("batch_seconds", "request_seconds", "requests", "prompt_tokens", "generated_tokens", "ttft", "tpot")

    def __init__(self) -> None:
        self.batch_seconds: list[float] = []
        self.request_seconds: list[float] = []
        self.requests = self.prompt_tokens = self.generated_tokens = 0
        self.ttft: list[float] = []
        self.tpot: list[float] = []

    def add(self, event: Any) -> None:
        self.batch_seconds.append(event.seconds)
        if event.size:
            self.request_seconds.append(event.seconds / event.size)
        self.requests += event.size
        self.prompt_tokens += event.prompt_tokens
        self.generated_tokens += event.generated_tokens
        self.ttft.extend(_per_request(event.extra, "ttft_s", "ttft"))
        self.tpot.extend(_per_request(event.extra, "tpot_s", "tpot"))

    def merge(self, other: _KindStats) -> None:
        for name in ("batch_seconds", "request_seconds", "ttft", "tpot"):
            getattr(self, name).extend(getattr(other, name))
        self.requests += other.requests
        self.prompt_tokens += other.prompt_tokens
        self.generated_tokens += other.generated_tokens

    def report(self) -> dict[str, Any]:
        busy = sum(self.batch_seconds)

        def rate(amount: int) -> float | None:
            return amount / busy if busy > 0 else None

        report: dict[str, Any] = {
            "batches": len(self.batch_seconds), "requests": self.requests, "batch_seconds": busy,
            "prompt_tokens": self.prompt_tokens, "generated_tokens": self.generated_tokens,
            "requests_per_s": rate(self.requests), "prompt_tokens_per_s": rate(self.prompt_tokens),
            "generated_tokens_per_s": rate(self.generated_tokens),
            "batch_latency_s": summarize(self.batch_seconds), "request_latency_s": summarize(self.request_seconds),
        }
        if self.ttft:
            report["ttft_s"] = summarize(self.ttft)
        if self.tpot:
            report["tpot_s"] = summarize(self.tpot)
        return report


class TimingProfiler:
    """No options. Costs one clock read per hook call and one small record per batch."""

    def __init__(self, options: Mapping[str, Any] | None = None, clock=time.perf_counter):
        self._clock = clock
        self._begun = False  # _begin sets the clock and UTC time of the first hook call:
        self._t0 = 0.0
        self._started_at = datetime.now(timezone.utc)
        self._open: dict[tuple[str, str | None], float] = {}
        self._intervals: list[tuple[str, str | None, float, float]] = []
        self._kinds: dict[str, _KindStats] = defaultdict(_KindStats)
        self._replicas = ReplicaLoad()

    def _begin(self) -> float:
        now = self._clock()
        if not self._begun:
            self._begun, self._t0, self._started_at = True, now, datetime.now(timezone.utc)
        return now

    @hookimpl
    def jlce_run_start(self, run):
        self._begin()

    @hookimpl
    def jlce_stage_start(self, run, event):
        self._open[(event.stage, event.task)] = self._begin()

    @hookimpl
    def jlce_stage_end(self, run, event):
        now = self._begin()
        start = self._open.pop((event.stage, event.task), None)
        if start is None:  # an end without a start: trust the event's own duration
            start = max(self._t0, now - (event.seconds or 0.0))
        self._intervals.append((event.stage, event.task, start, now))

    @hookimpl
    def jlce_after_batch(self, run, event):
        self._begin()
        self._kinds[event.kind].add(event)
        self._replicas.add(event)

    def _stamp(self, offset: float) -> str:
        return (self._started_at + timedelta(seconds=offset)).isoformat()

    def report(self, health: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """`health`: a replica backend's per-replica counters (`replica_health()`), if any."""
        end = self._begin()
        unfinished = [(stage, task, start, end) for (stage, task), start in self._open.items()]
        intervals = self._intervals + unfinished
        wall = end - self._t0
        stages: dict[str, dict[str, float]] = {}
        tasks: dict[str, dict[str, float]] = {}
        timeline = []
        for stage, task, start, stop in sorted(intervals, key=lambda item: item[2]):
            seconds = stop - start
            entry = stages.setdefault(stage, {"seconds": 0.0, "count": 0})
            entry["seconds"] += seconds
            entry["count"] += 1
            if task is not None:
                per_task = tasks.setdefault(task, {"total": 0.0})
                per_task[stage] = per_task.get(stage, 0.0) + seconds
                per_task["total"] += seconds
            timeline.append({"stage": stage, "task": task, "start": self._stamp(start - self._t0),
                             "end": self._stamp(stop - self._t0), "seconds": seconds})
        covered = union_seconds((start, stop) for _, _, start, stop in intervals)
        overall = _KindStats()
        for stats in self._kinds.values():
            overall.merge(stats)
        report: dict[str, Any] = {
            "started_at": self._stamp(0.0), "ended_at": self._stamp(wall), "wall_seconds": wall,
            "stages": stages, "staged_seconds": covered, "unstaged_seconds": max(wall - covered, 0.0),
            "overlap_seconds": max(sum(s["seconds"] for s in stages.values()) - covered, 0.0),
            "tasks": tasks, "timeline": timeline,
            "throughput": {kind: stats.report() for kind, stats in sorted(self._kinds.items())},
        }
        if self._kinds:
            report["throughput"]["all"] = overall.report()
        if unfinished:
            report["unfinished_stages"] = sorted({stage for stage, *_ in unfinished})
        inference = sum(entry["seconds"] for stage, entry in stages.items() if stage.startswith("inference"))
        replicas = self._replicas.report(inference, health)
        if replicas is not None:
            report["replicas"] = replicas
        return report

    @hookimpl
    def jlce_run_end(self, run):
        return {"profile": {"timing": self.report(replica_health(getattr(run, "backend", None)))}}
