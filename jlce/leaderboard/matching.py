"""Turn one leaderboard task's samples from several runs into matched arrays and a statistic."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from jlce.errors import UserError
from jlce.leaderboard.definition import TaskDef
from jlce.leaderboard.inputs import Run, SampleColumns, read_samples
from jlce.stats.weighted import (
    Deduplicated,
    MCCStat,
    MeanStat,
    PearsonStat,
    SpearmanStat,
    Statistic,
    label_codes,
    numeric_predictions,
    uniform_weights,
)


@dataclass(frozen=True)
class PreparedTask:
    """A task ready for the bootstrap: models, matched items, and the statistic over them."""

    key: str
    models: tuple[str, ...]
    n_items: int
    stat: Statistic
    scale: tuple[float, float]  # metric = scale[0] + scale[1] * statistic value
    unit_scores: np.ndarray | None  # (M, N) per-item scores in [0, 1]; None for corpus statistics
    raw_scores: np.ndarray | None  # (M, N) per-item scores in metric units
    dropped: dict[str, int] = field(default_factory=dict)
    n_invalid: dict[str, int] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def observed(self) -> np.ndarray:
        """The statistic on the matched items with equal weights, in metric units."""
        return self.to_metric(self.stat.evaluate(uniform_weights(self.n_items))[0])

    def to_metric(self, values: np.ndarray) -> np.ndarray:
        return self.scale[0] + self.scale[1] * values


def _sort_key(doc_id: int | str) -> tuple[int, int | str]:
    return (0, doc_id) if isinstance(doc_id, int) else (1, doc_id)


def _positions(columns: list[SampleColumns]) -> tuple[list[int | str], list[np.ndarray]]:
    """The doc ids every run has (sorted), and each run's row index of them."""
    first = columns[0].doc_ids
    if all(c.doc_ids == first for c in columns[1:]):  # the usual case: identical files
        order = sorted(range(len(first)), key=lambda i: _sort_key(first[i]))
        index = np.asarray(order, dtype=np.intp)
        return [first[i] for i in order], [index] * len(columns)
    common = set(first)
    for c in columns[1:]:
        common &= set(c.doc_ids)
    ids = sorted(common, key=_sort_key)
    out = []
    for c in columns:
        where = {d: i for i, d in enumerate(c.doc_ids)}
        out.append(np.fromiter((where[d] for d in ids), dtype=np.intp, count=len(ids)))
    return ids, out


def _make_stat(tdef: TaskDef, preds: list[list], gold: list, where: str) -> tuple[Statistic, dict[int, int]]:
    """Build a corpus statistic; returns it and the number of unreadable predictions per model index."""
    if tdef.statistic == "mcc":
        gold_codes, pred_codes, k = label_codes(gold, preds)
        return Deduplicated(MCCStat, pred_codes, gold_codes, k), {}
    gold_values, bad_gold = numeric_predictions(gold, invalid=float("nan"))
    if bad_gold:
        raise UserError(f"{where}: {bad_gold} samples have no numeric gold value, needed for {tdef.statistic}")
    values, invalid = [], {}
    for i, row in enumerate(preds):
        v, n_bad = numeric_predictions(row, tdef.invalid)
        values.append(v)
        if n_bad:
            invalid[i] = n_bad
    cls = SpearmanStat if tdef.statistic == "spearman" else PearsonStat
    return Deduplicated(cls, np.vstack(values), gold_values), invalid


def prepare_task(key: str, tdef: TaskDef, source: str, runs: Sequence[Run]) -> PreparedTask:
    """Read the runs' samples of a task, keep the items every run has, build its statistic."""
    corpus = tdef.statistic != "mean"
    lo, hi = tdef.range
    warnings: list[str] = []
    columns: list[SampleColumns] = []
    for run in runs:
        record = run.tasks[source]
        col = read_samples(record, None if corpus else tdef.metric, predictions=corpus)
        if not corpus:
            values = col.metric_values()
            outside = np.flatnonzero((values < lo) | (values > hi))
            if outside.size:
                i = int(outside[0])
                raise UserError(
                    f"{col.file}:{col.line_of(i)}: {tdef.metric} = {values[i]:g} lies outside the "
                    f"task's range [{lo:g}, {hi:g}] (set `range` in the leaderboard definition)"
                )
            reported_metric = record.metrics.get(tdef.metric) or {}
            reported = None if reported_metric.get("corpus") else reported_metric.get("value")
            mean = float(values.mean())
            if isinstance(reported, (int, float)) and abs(mean - reported) > 1e-6 * max(1.0, abs(reported)):
                warnings.append(
                    f"task '{key}', run {run.path}: mean per-item {tdef.metric} {mean:.6g} differs from "
                    f"results.json value {reported:.6g}"
                )
        columns.append(col)
    ids, positions = _positions(columns)
    if not ids:
        raise UserError(f"task '{key}': no item (doc_id) is shared by all runs that have it")
    models = tuple(run.model for run in runs)
    dropped = {run.model: len(c.doc_ids) - len(ids) for run, c in zip(runs, columns) if len(c.doc_ids) > len(ids)}
    if dropped:
        warnings.append(f"task '{key}': {len(ids)} items shared by all models; unmatched items left out: "
                        + ", ".join(f"{m} {n}" for m, n in dropped.items()))
    if corpus:
        read = [c.predictions() for c in columns]
        preds = [[p[i] for i in pos] for (p, _), pos in zip(read, positions)]
        gold = [read[0][1][i] for i in positions[0]]
        stat, invalid = _make_stat(tdef, preds, gold, str(columns[0].file))
        n_invalid = {models[i]: n for i, n in invalid.items()}
        for model, n in n_invalid.items():
            warnings.append(f"task '{key}', model {model}: {n} unreadable predictions, counted as {tdef.invalid}")
        task = PreparedTask(key, models, len(ids), stat, (0.0, 1.0), None, None, dropped, n_invalid)
        observed = task.observed()
        for run, value in zip(runs, observed):
            reported = (run.tasks[source].metrics.get(tdef.metric) or {}).get("value")
            if run.model not in dropped and isinstance(reported, (int, float)) and abs(value - reported) > 1e-6:
                warnings.append(f"task '{key}', run {run.path}: {tdef.statistic} recomputed from samples is "
                                f"{value:.6g}, results.json says {reported:.6g}")
        return PreparedTask(key, models, len(ids), stat, (0.0, 1.0), None, None, dropped, n_invalid, tuple(warnings))
    raw = np.vstack([c.metric_values()[pos] for c, pos in zip(columns, positions)])
    if hi - lo > 2 and 0 < raw.max() <= 1:
        warnings.append(f"task '{key}': every {tdef.metric} value lies in [0, 1] but the range is [{lo:g}, {hi:g}]; "
                        "is the scale right?")
    unit = np.clip((raw - lo) / (hi - lo), 0.0, 1.0)
    stat = Deduplicated(MeanStat, unit)
    return PreparedTask(key, models, len(ids), stat, (lo, hi - lo), unit, raw, dropped, {}, tuple(warnings))
