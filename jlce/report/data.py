"""What a report shows, collected from run directories: one entry per model.

Runs of the same model (same fingerprint) are repeats: each task's score comes from the first run
that has it (repeats give the same answers), speed and memory are averaged over the runs that
measured them, with their spread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jlce.claims.quantities import CATALOG, RunRecord, Unmeasured, load_run_record
from jlce.errors import UserError
from jlce.leaderboard.inputs import expand_run_dirs


@dataclass(frozen=True)
class Score:
    metric: str
    value: float
    lo: float | None
    hi: float | None
    n: int
    interval_method: str | None
    stderr: float | None = None


@dataclass(frozen=True)
class Measure:
    """A per-run quantity over a model's runs: mean, min, max and how many runs measured it."""

    mean: float
    lo: float
    hi: float
    runs: int


@dataclass(frozen=True)
class ModelSummary:
    label: str
    model: str
    fingerprint_hash: str
    runs: tuple[RunRecord, ...]
    scores: dict[str, Score]  # task -> primary metric
    measures: dict[str, Measure] = field(default_factory=dict)  # quantity name -> measure

    def measure(self, name: str) -> Measure | None:
        return self.measures.get(name)


MEASURES = ("tokens_per_s", "requests_per_s", "peak_gpu_memory_bytes", "peak_rss_bytes", "kv_bytes_per_token",
            "n_parameters", "energy_per_token", "chars_per_token")


def short_label(model: str) -> str:
    """`/data/models/tiny-500` -> `tiny-500`; hub ids and names stay as they are."""
    text = model.rstrip("/\\")
    return Path(text).name if text.startswith((".", "/", "~")) or "\\" in text or text.count("/") > 1 else text


def _scores(run: RunRecord) -> dict[str, Score]:
    out = {}
    for task, entry in (run.results.get("tasks") or {}).items():
        metrics = entry.get("metrics") or {}
        metric = entry.get("primary_metric") or next(iter(metrics), None)
        if metric is None:  # no metrics at all
            continue
        m = metrics.get(metric) or {}
        if not isinstance(m.get("value"), (int, float)):
            continue
        ci95 = m.get("ci95")
        lo, hi = (ci95[0], ci95[1]) if isinstance(ci95, list) and len(ci95) == 2 else (None, None)
        stderr = m.get("stderr") if isinstance(m.get("stderr"), (int, float)) else None
        out[task] = Score(metric, float(m["value"]), lo, hi, int(entry.get("n_samples") or 0), m.get("interval_method"),
                          stderr)
    return out


def _measures(runs: Sequence[RunRecord]) -> dict[str, Measure]:
    out = {}
    for name in MEASURES:
        values = []
        for run in runs:
            try:
                values.append(CATALOG[name].extract(run, ()))
            except Unmeasured:
                pass
        if values:
            v = np.asarray(values, dtype=float)
            out[name] = Measure(float(v.mean()), float(v.min()), float(v.max()), int(v.size))
    return out


def collect(run_dirs: Sequence[str | Path]) -> list[ModelSummary]:
    """Models in the order their first run was given."""
    runs = [load_run_record(p) for p in expand_run_dirs(run_dirs)]
    groups: dict[str, list[RunRecord]] = {}
    for run in runs:
        groups.setdefault(run.fingerprint_hash or run.model, []).append(run)
    summaries, used = [], set()
    for key, members in groups.items():
        members.sort(key=lambda r: (r.created_at, str(r.path)))
        label = short_label(members[0].model)
        if label in used:
            label = f"{label} ({key[:8]})"
        used.add(label)
        scores: dict[str, Score] = {}
        for run in members:  # each task from the first run that has it
            for task, score in _scores(run).items():
                scores.setdefault(task, score)
        summaries.append(ModelSummary(label, members[0].model, members[0].fingerprint_hash, tuple(members),
                                      scores, _measures(members)))
    if not summaries:
        raise UserError("no runs to report")
    return summaries


def shared_tasks(models: Sequence[ModelSummary]) -> list[str]:
    """Tasks every model has a score for, in the first model's order."""
    return [t for t in models[0].scores if all(t in m.scores for m in models[1:])]


def all_tasks(models: Sequence[ModelSummary]) -> list[str]:
    return list(dict.fromkeys(t for m in models for t in m.scores))
