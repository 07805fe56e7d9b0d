"""Uncertainty of a task's metric in results.json: standard error and 95% interval."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Estimate:
    value: float
    stderr: float | None
    ci95: tuple[float, float] | None
    method: str


def _is_binary(values: np.ndarray) -> bool:
    return bool(np.all((values == 0) | (values == 1)))


def mean_estimate(per_item: Sequence[float], bounds: tuple[float, float] | None = None) -> Estimate:
    """Mean of per-item scores: Wilson interval for 0/1 scores, else a Student-t interval on the mean,
    kept inside `bounds` (the metric's range; by default [0, 1] when every value lies in it, the scale
    JLCE reports bounded metrics on). The true mean lies in the range, so this never loses coverage;
    an interval that leaves the range (an accuracy of -0.021) would claim values that cannot be."""
    values = np.asarray([v for v in per_item if not math.isnan(v)], dtype=float)
    n = len(values)
    if n == 0:
        return Estimate(float("nan"), None, None, "none")
    mean = float(values.mean())
    if n == 1:
        return Estimate(mean, None, None, "single item")
    stderr = float(values.std(ddof=1) / math.sqrt(n))
    if _is_binary(values):
        from scipy.stats import binomtest

        interval = binomtest(int(values.sum()), n).proportion_ci(confidence_level=0.95, method="wilson")
        return Estimate(mean, stderr, (float(interval.low), float(interval.high)), "wilson")
    from scipy.special import stdtrit

    half = float(stdtrit(n - 1, 0.975)) * stderr
    low, high = mean - half, mean + half
    if bounds is None and np.all((values >= 0) & (values <= 1)):
        bounds = (0.0, 1.0)
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
        return Estimate(mean, stderr, (low, high), f"t, within [{bounds[0]:g}, {bounds[1]:g}]")
    return Estimate(mean, stderr, (low, high), "t")


def bootstrap_estimate(value: float, n: int, statistic: Callable[[np.ndarray], float], *, draws: int = 1000, seed: int = 0) -> Estimate:
    """Percentile bootstrap over items for corpus-level metrics; `statistic(indices)` recomputes the metric."""
    if n < 2:
        return Estimate(value, None, None, "single item")
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(draws):
        result = statistic(rng.integers(0, n, n))
        if not math.isnan(result):
            samples.append(result)
    if len(samples) < draws // 2:
        return Estimate(value, None, None, "bootstrap failed")
    array = np.asarray(samples)
    low, high = np.percentile(array, [2.5, 97.5])
    return Estimate(value, float(array.std(ddof=1)), (float(low), float(high)), f"bootstrap({draws})")
