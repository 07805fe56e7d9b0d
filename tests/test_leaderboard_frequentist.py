"""Frequentist companions checked against scipy and against exact enumeration."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from jlce.stats.frequentist import (
    cohen_h,
    holm,
    mcnemar_exact,
    pairwise_tests,
    permutation_pvalues,
    t_interval,
    wilson_intervals,
)


def test_wilson_matches_scipy_binomtest():
    ks, ns = np.array([0, 1, 7, 50, 99, 100, 3]), np.array([100, 100, 20, 100, 100, 100, 5])
    for level in (0.9, 0.95):
        low, high = wilson_intervals(ks, ns, level)
        for k, n, lo, hi in zip(ks, ns, low, high):
            ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="wilson")
            assert lo == pytest.approx(ci.low, abs=1e-12) and hi == pytest.approx(ci.high, abs=1e-12)


def test_exact_mcnemar_matches_binomtest():
    pairs = [(a, b) for a in range(0, 25, 3) for b in range(0, 25, 4)]
    got = mcnemar_exact(np.array([a for a, _ in pairs]), np.array([b for _, b in pairs]))
    for (a, b), p in zip(pairs, got):
        expected = 1.0 if a + b == 0 else stats.binomtest(a, a + b, 0.5).pvalue
        assert p == pytest.approx(expected, rel=1e-10, abs=1e-15)


def test_permutation_pvalue_matches_exact_enumeration():
    rng = np.random.default_rng(8)
    x = rng.beta(2, 2, (3, 11))
    x[1] = np.clip(x[0] + rng.normal(0.15, 0.1, 11), 0, 1)
    p = permutation_pvalues(x, np.random.default_rng(0), permutations=40_000)
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        d = x[a] - x[b]
        flips = np.array(list(itertools.product([-1, 1], repeat=11)))
        exact = np.mean(np.abs(flips @ d) >= abs(d.sum()) - 1e-12)
        assert abs(p[a, b] - exact) < 4 * math.sqrt(exact * (1 - exact) / 40_000) + 1e-4
        assert p[a, b] == p[b, a]


def test_permutation_pvalue_of_identical_models_is_one():
    x = np.random.default_rng(1).random((2, 30))
    x[1] = x[0]
    assert permutation_pvalues(x, np.random.default_rng(0), 500)[0, 1] == 1.0


def test_holm_by_hand():
    # Sorted p: .01, .03, .04 with m = 3 -> .03, max(.03, 2*.03 = .06), max(.06, 1*.04) = .06.
    assert np.allclose(holm(np.array([0.01, 0.04, 0.03])), [0.03, 0.06, 0.06])
    adjusted = holm(np.array([[np.nan, 0.2], [np.nan, 0.9]]))
    assert np.isnan(adjusted[0, 0]) and np.allclose(adjusted[0, 1], 0.4) and np.allclose(adjusted[1, 1], 0.9)


def test_cohen_h_reference_values():
    assert cohen_h(1.0, 0.0) == pytest.approx(math.pi)
    assert cohen_h(0.5, 0.5) == 0.0
    # phi = 2 asin sqrt(p) maps 1/4 to pi/3 and 3/4 to 2 pi/3.
    assert cohen_h(0.75, 0.25) == pytest.approx(math.pi / 3)
    assert cohen_h(0.25, 0.75) == pytest.approx(-math.pi / 3)


def test_pairwise_tests_choose_the_test_by_data():
    rng = np.random.default_rng(2)
    binary = (rng.random((3, 60)) < [[0.5], [0.6], [0.9]]).astype(float)
    tests = pairwise_tests(binary, np.random.default_rng(0))
    assert tests.test == "mcnemar_exact" and tests.effect == "cohen_h" and tests.permutations is None
    n10 = int(np.sum((binary[2] == 1) & (binary[0] == 0)))
    n01 = int(np.sum((binary[2] == 0) & (binary[0] == 1)))
    assert tests.p_value[2, 0] == pytest.approx(stats.binomtest(n10, n10 + n01).pvalue)
    assert np.allclose(tests.p_holm, tests.p_holm.T) and np.all(tests.p_holm >= tests.p_value - 1e-15)
    continuous = rng.beta(2, 3, (3, 60))
    tests = pairwise_tests(continuous, np.random.default_rng(0), permutations=2000)
    assert tests.test == "paired_permutation" and tests.effect == "cohen_dz" and tests.permutations == 2000
    d = continuous[0] - continuous[1]
    assert tests.effect_size[0, 1] == pytest.approx(d.mean() / d.std(ddof=1))


def test_t_interval_matches_scipy():
    values = np.random.default_rng(4).random(25)
    lo, hi = t_interval(values, 0.95)
    ref = stats.t.interval(0.95, 24, loc=values.mean(), scale=stats.sem(values))
    assert lo == pytest.approx(ref[0]) and hi == pytest.approx(ref[1])
