"""A task's interval in results.json (`jlce.stats`): against scipy, and never outside the metric's range."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from jlce.stats import mean_estimate


def test_binary_scores_get_the_wilson_interval():
    values = [1.0] * 3 + [0.0] * 27
    wilson = stats.binomtest(3, 30).proportion_ci(method="wilson")
    assert mean_estimate(values).ci95 == pytest.approx((wilson.low, wilson.high))


def test_continuous_scores_get_a_student_t_interval_inside_the_range():
    """pass@1 from k = 4 samples of 30 items, almost all wrong: the t interval would reach below 0
    (issue 13 saw an accuracy interval of -0.021); the reported one stops at 0."""
    values = np.array([0.0] * 27 + [0.25, 0.5, 0.25])
    low, high = stats.t.interval(0.95, 29, loc=values.mean(), scale=values.std(ddof=1) / np.sqrt(30))
    assert low < 0
    est = mean_estimate(values)
    assert est.ci95 == pytest.approx((0.0, high)) and est.method == "t, within [0, 1]"
    wide = mean_estimate([-3.0, 2.0, 5.0])  # values outside [0, 1]: no range assumed
    assert wide.ci95 == pytest.approx(stats.t.interval(0.95, 2, loc=4 / 3, scale=np.std([-3, 2, 5], ddof=1) / np.sqrt(3)))
    assert mean_estimate([0.2, 0.9, 0.95], bounds=(0.0, 1.0)).ci95[1] == 1.0
