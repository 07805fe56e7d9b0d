"""Posterior draws of measured quantities.

- Task metrics with per-item scores: the leaderboard's Bayesian bootstrap over items
  (`jlce.stats.bayes.posterior_draws`, through `item_mean_draws`): one Dirichlet weight
  vector per draw shared by every run compared on the task, so differences keep their pairing, and
  for each run its own prior pseudo-items (worst and best score) with independent weights. Shared
  all-0 and all-1 items would cancel in B - A: a single discordant item would make every draw
  positive (P(B > A) = 1 where exact McNemar gives p = 1). Corpus metrics without per-item scores
  fall back to a normal approximation from the stderr the run recorded.
- Speed, latency, memory, energy: over repeated runs of one model, the geometric mean and the
  Student-t posterior of the mean log value (`run_estimate`); a Bayesian bootstrap of 3 values
  covered ~69 %, the t covers 95 % for every k >= 2. One run gives a point and no interval.
- Exact quantities (model arithmetic) are constants.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from jlce.claims.quantities import RunRecord, Unmeasured
from jlce.errors import UserError
from jlce.stats.bayes import UNIT_PRIOR, posterior_draws, task_rng
from jlce.stats.weighted import Deduplicated, MeanStat
from jlce.results import read_samples


@dataclass(frozen=True)
class Estimate:
    """A quantity's observed value and its posterior draws."""

    point: float
    draws: np.ndarray  # (S,)
    method: str
    has_interval: bool  # False: one measurement of a varying quantity, no uncertainty estimate
    n: int  # items or runs behind it
    notes: tuple[str, ...] = ()


def constant(value: float, draws: int, method: str, n: int = 1, has_interval: bool = True,
             notes: tuple[str, ...] = ()) -> Estimate:
    return Estimate(float(value), np.full(draws, float(value)), method, has_interval, n, notes)


def item_mean_draws(scores: np.ndarray, draws: int, seed: int, key: str,
                    scale: tuple[float, float] | None = None) -> tuple[np.ndarray, str]:
    """(draws, runs) posterior draws of the mean per-item score of each row of `scores` (runs x
    items, paired by item), and the method in words.

    The leaderboard's bootstrap (`jlce.stats.bayes.posterior_draws`: shared item weights,
    per-model prior pseudo-items), so `jlce compare`, `jlce verify` and the leaderboard give the
    same draws for the same scores, seed and task. Scores in [0, 1] get pseudo-items at 0 and 1;
    other scores at the smallest and largest value observed in any of the rows, or at the ends of
    the metric's declared `scale` (a judge's 1-10 ratings: the leaderboard's range) when it covers them."""
    scores = np.asarray(scores, dtype=float)
    low, high = float(scores.min()), float(scores.max())
    if scale is not None and scale[0] <= low and high <= scale[1]:
        low, high, where = float(scale[0]), float(scale[1]), f"at the scale's ends {scale[0]:g} and {scale[1]:g}"
    elif low >= 0.0 and high <= 1.0:
        low, high, where = 0.0, 1.0, "at 0 and 1"
    else:
        where = f"at the observed extremes {low:g} and {high:g}"
    span = high - low
    unit = (scores - low) / span if span > 0 else np.zeros_like(scores)
    theta = posterior_draws(Deduplicated(MeanStat, unit), draws, seed, key, UNIT_PRIOR)
    method = (f"Bayesian bootstrap over items (shared Dirichlet item weights; per-run prior pseudo-items {where})")
    return low + span * theta, method


class UnmeasuredKeys(Unmeasured):
    """Some of the (label, metric) keys of a task could not be read; `by_key` says why, per key."""

    def __init__(self, by_key: Mapping[tuple[str, str], str]):
        self.by_key = dict(by_key)
        super().__init__("; ".join(self.by_key.values()))


def is_corpus(run: RunRecord, task: str, metric: str) -> bool:
    """A corpus metric (BLEU, macro-F1, correlations) is not the mean of its per-item values."""
    entry = ((run.results.get("tasks") or {}).get(task) or {}).get("metrics", {}).get(metric) or {}
    return bool(entry.get("corpus"))


def per_item_scores(run: RunRecord, task: str, metric: str) -> dict[object, float] | None:
    """doc_id -> per-item value, or None for a corpus metric or when the samples carry no
    per-item value of `metric`."""
    if is_corpus(run, task, metric):
        return None
    try:
        rows = read_samples(run.path, task)
    except UserError as error:
        raise Unmeasured(f"run {run.ref}: {error}") from None
    out: dict[object, float] = {}
    for row in rows:
        value = (row.get("metrics") or {}).get(metric) if isinstance(row, dict) else None
        if isinstance(value, bool):
            value = float(value)
        if not isinstance(value, (int, float)) or not np.isfinite(value):
            return None
        out[row.get("doc_id", len(out))] = float(value)
    return out or None


def _normal_fallback(run: RunRecord, task: str, metric: str, draws: int, seed: int) -> Estimate:
    entry = run.results["tasks"][task]["metrics"][metric]
    value, stderr = entry.get("value"), entry.get("stderr")
    if not isinstance(value, (int, float)):
        raise Unmeasured(f"run {run.ref}, task '{task}': {metric} has no value")
    if isinstance(stderr, (int, float)) and stderr > 0:
        rng = task_rng(seed, f"normal/{run.run_id}/{task}/{metric}")
        return Estimate(float(value), rng.normal(float(value), float(stderr), draws),
                        "normal approximation from the run's stderr (corpus metric, not a mean of items)", True,
                        int(run.results["tasks"][task].get("n_samples") or 0))
    return constant(value, draws, "reported value (not a mean of per-item scores, no stderr)", has_interval=False)


def metric_estimates(task: str, rows: Mapping[tuple[str, str], RunRecord], draws: int,
                     seed: int) -> dict[tuple[str, str], Estimate]:
    """Estimates of task metrics, keyed (label, metric), paired over the items all of them have:
    every (label, metric) of one task shares each draw's item weights."""
    per_item, errors = {}, {}
    for key, run in rows.items():
        try:
            per_item[key] = per_item_scores(run, task, key[1])
        except Unmeasured as error:
            errors[key] = str(error)
    if errors:
        raise UnmeasuredKeys(errors)
    out: dict[tuple[str, str], Estimate] = {}
    itemized = {key: values for key, values in per_item.items() if values is not None}
    for key, values in per_item.items():
        if values is None:
            out[key] = _normal_fallback(rows[key], task, key[1], draws, seed)
    if not itemized:
        return out
    common = set.intersection(*(set(v) for v in itemized.values()))
    if not common:
        raise Unmeasured(f"task '{task}': the runs share no item (doc_id)")
    ids = sorted(common, key=lambda d: (isinstance(d, str), d))
    keys = list(itemized)
    scores = np.array([[itemized[key][d] for d in ids] for key in keys])
    names = [f"{metric}({label})" for label, metric in keys]
    theta, method = item_mean_draws(scores, draws, seed, task)
    if len(keys) > 1:
        method += f", item weights shared by {', '.join(names)}"
    for i, key in enumerate(keys):
        dropped = len(itemized[key]) - len(ids)
        notes = (f"{task}: {len(ids)} items shared by {', '.join(names)}; {dropped} of {names[i]} left out",) if dropped else ()
        out[key] = Estimate(float(scores[i].mean()), theta[:, i], method, True, len(ids), notes)
    return out


LOG_CAP = 50.0  # draws of a log-scale quantity stay within e^±50 of the point (tails of t with 1 df only)


def run_estimate(label: str, runs: Sequence[RunRecord], values: Sequence[float], exact: bool, draws: int,
                 seed: int) -> Estimate:
    """A per-run quantity over k repeated runs of one model (`values[i]` from `runs[i]`).

    Positive quantities are summarized on the log scale: the point is the geometric mean, and the
    draws are the Student-t posterior of the mean log value (flat prior on the mean and the log of
    the standard deviation): m + s / sqrt(k) * t_{k-1}. Its central c-interval is the classical
    Student-t interval, which covers at level c for every k >= 2; a ratio of two labels' quantities
    is the Behrens-Fisher posterior of the difference of their log means (conservative for few
    runs). Quantities with a zero or negative value use the linear scale. Draws are built from one
    normal vector over the runs and one chi-square per draw, shared by every quantity of the label
    measured on the same runs, so a difference or ratio of two of them is the paired t-posterior
    of the per-run differences."""
    v = np.asarray(values, dtype=float)
    k = v.size
    if exact and np.all(v == v[0]):
        return constant(v[0], draws, "exact (the same in every run)", n=k)
    if k == 1:
        return constant(v[0], draws, "one run: no interval", n=1, has_interval=False,
                        notes=(f"{label} has one run: repeat it (several run directories for one label) for an interval",))
    log = bool(np.all(v > 0))
    y = np.log(v) if log else v
    residual = y - y.mean()
    rng = task_rng(seed, "runs/" + label + "/" + "/".join(r.run_id for r in runs))
    z = rng.standard_normal((draws, k))
    chi2 = rng.chisquare(k - 1, draws)
    deviation = (z @ residual) / np.sqrt(k * chi2)
    notes = (f"{label}: the runs disagree ({', '.join(f'{x:g}' for x in v)})",) if exact else ()
    if log:
        deviation = np.clip(deviation, -LOG_CAP, LOG_CAP)
        return Estimate(float(np.exp(y.mean())), np.exp(y.mean() + deviation),
                        f"geometric mean of {k} runs, Student-t on the log scale ({k - 1} df)", True, k, notes)
    return Estimate(float(y.mean()), y.mean() + deviation, f"mean of {k} runs, Student-t ({k - 1} df)", True, k, notes)
