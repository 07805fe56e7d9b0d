"""Intervals of run-level quantities (speed, memory, energy) from k repeated runs: Student-t on the
log scale, checked against scipy and by simulation with known truth (issue 13: a Bayesian bootstrap
of 2-10 runs covered 50-88%). benchmarks/calibration.py measures the same with more replications."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from jlce.claims.uncertainty import run_estimate


def _runs(label: str, k: int, rep: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(run_id=f"{label}-{rep}-{i}") for i in range(k)]


def test_interval_is_the_student_t_interval_of_the_log_values():
    values = [10.0, 12.0, 14.0]
    est = run_estimate("X", _runs("X", 3, 0), values, exact=False, draws=200_000, seed=1)
    logs = np.log(values)
    lo, hi = np.exp(stats.t.interval(0.95, 2, loc=logs.mean(), scale=logs.std(ddof=1) / np.sqrt(3)))
    assert est.point == pytest.approx(np.exp(logs.mean()))
    assert np.quantile(est.draws, [0.025, 0.975]) == pytest.approx([lo, hi], rel=0.01)


def test_quantities_of_one_label_are_paired_over_its_runs():
    """Two quantities from the same runs share the draws' randomness: their ratio is the t-posterior of
    the per-run ratios (here constant, so the ratio is exact)."""
    runs = _runs("X", 4, 0)
    tokens = run_estimate("X", runs, [100.0, 130.0, 90.0, 120.0], False, 2000, 0)
    requests = run_estimate("X", runs, [10.0, 13.0, 9.0, 12.0], False, 2000, 0)
    assert np.allclose(tokens.draws / requests.draws, 10.0)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_coverage_and_false_verified_rate_at_the_boundary(k):
    """Throughput of two configurations with multiplicative noise (CV 5%) and a true ratio of exactly
    1.70: the 95% interval of one quantity covers its true value ~95% of the time, and a claim
    `ratio >= 1.70` is VERIFIED (lower end of the 95% interval of the ratio above 1.70) at most 2.5%."""
    rng = np.random.default_rng(k)
    replications, covered, verified = 600, 0, 0
    for rep in range(replications):
        a = 100.0 * np.exp(rng.normal(0, 0.05, k))
        b = 170.0 * np.exp(rng.normal(0, 0.05, k))
        ea = run_estimate("A", _runs("A", k, rep), a, False, 2000, rep)
        eb = run_estimate("B", _runs("B", k, rep), b, False, 2000, rep)
        lo, hi = np.quantile(ea.draws, [0.025, 0.975])
        covered += lo <= 100.0 <= hi
        verified += np.quantile(eb.draws / ea.draws, 0.025) >= 1.70
    assert 0.93 <= covered / replications <= 0.97
    assert verified / replications <= 0.025


def test_item_means_outside_the_unit_interval_get_pseudo_items_at_the_observed_extremes():
    """chrF on 0-100, say: the same bootstrap, with each run's pseudo-items at the smallest and largest
    observed value, so a one-item difference is not certainty either."""
    from jlce.claims.uncertainty import item_mean_draws
    from jlce.stats.bayes import pairwise_probabilities

    a = np.linspace(10.0, 90.0, 50)
    b = a.copy()
    b[7] += 5.0
    theta, method = item_mean_draws(np.vstack([a, b]), 20_000, 0, "chrf")
    assert "observed extremes 10 and 90" in method
    unit, _ = item_mean_draws(np.vstack([(a - 10) / 80, (b - 10) / 80]), 20_000, 0, "chrf")
    assert np.allclose(theta, 10 + 80 * unit)  # the [0, 1] code path, rescaled
    assert theta.mean(axis=0) == pytest.approx((np.array([a.sum(), b.sum()]) + 10 + 90) / 52, rel=2e-3)
    assert 0.5 < pairwise_probabilities(theta)[1, 0] < 0.95
