"""Frequentist companions: Wilson and t intervals, exact McNemar, paired permutation tests, Holm, Cohen's h.

Vectorized with scipy.special (scipy.stats takes ~1 s to import); the tests check every number
against scipy.stats (binomtest, proportion_ci, t.interval).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import special

from jlce.stats.bayes import single_threaded_blas

DEFAULT_PERMUTATIONS = 10_000


def wilson_intervals(successes: np.ndarray, n: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score intervals of proportions, vectorized.

    The same numbers as `scipy.stats.binomtest(k, n).proportion_ci(level, method="wilson")`
    (checked in the tests), without building a test object (and its p-value) per model.
    """
    k = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    z = special.ndtri(0.5 + level / 2)
    center = (k + z * z / 2) / (n + z * z)
    half = z / (n + z * z) * np.sqrt(k * (n - k) / n + z * z / 4)
    return np.maximum(center - half, 0.0), np.minimum(center + half, 1.0)


def t_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Student-t interval of a mean of per-item scores."""
    values = np.asarray(values, dtype=float)
    n = values.size
    mean = float(values.mean())
    if n < 2:
        return mean, mean
    half = special.stdtrit(n - 1, 0.5 + level / 2) * values.std(ddof=1) / np.sqrt(n)
    return mean - float(half), mean + float(half)


def mcnemar_exact(n10: np.ndarray, n01: np.ndarray) -> np.ndarray:
    """Two-sided exact McNemar p-values, elementwise.

    Equal to `binomtest(n10, n10 + n01, 0.5).pvalue`: under p = ½ the binomial is symmetric, so
    the outcomes no more likely than the observed one are the two tails beyond min(n10, n01).
    """
    n10 = np.asarray(n10)
    n01 = np.asarray(n01)
    n = n10 + n01
    with np.errstate(invalid="ignore"):
        p = 2.0 * special.bdtr(np.minimum(n10, n01), n, 0.5)  # binomial CDF
    return np.where(n10 == n01, 1.0, np.minimum(p, 1.0))


def permutation_pvalues(scores: np.ndarray, rng: np.random.Generator, permutations: int = DEFAULT_PERMUTATIONS,
                        chunk: int = 2000) -> np.ndarray:
    """Two-sided paired permutation (sign-flip) tests of equal mean score, for every pair of models.

    Swapping two models' scores on item i flips the sign of d_i = a_i - b_i, and
    sum_i s_i d_i = (s @ a) - (s @ b): one product per model serves all pairs, with the same
    random sign vectors. Monte Carlo p = (1 + #{|T*| >= |T|}) / (1 + R), valid at any R.
    """
    x = np.asarray(scores, dtype=float)  # (M, N)
    m, n = x.shape
    observed = x.sum(axis=1)
    # |T_obs| per pair, less a hair so that floating-point noise cannot decide exact equalities.
    t_obs = np.abs(observed[:, None] - observed[None, :]) - 1e-9 * max(1.0, float(np.abs(x).sum(axis=1).max()))
    count = np.zeros((m, m))
    with single_threaded_blas():
        for start in range(0, permutations, chunk):
            rows = min(chunk, permutations - start)
            bits = np.unpackbits(rng.integers(0, 256, size=(rows, (n + 7) // 8), dtype=np.uint8), axis=1)[:, :n]
            t = x @ (bits.astype(float) * 2 - 1).T  # (M, rows): sum_i s_i x_i per model
            for a in range(m - 1):
                count[a, a + 1 :] += np.count_nonzero(np.abs(t[a] - t[a + 1 :]) >= t_obs[a, a + 1 :, None], axis=1)
    p = (1 + count + count.T) / (1 + permutations)
    np.fill_diagonal(p, 1.0)
    return p


def holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values for one family (any shape; NaN entries are ignored)."""
    p = np.asarray(pvalues, dtype=float)
    flat = p.ravel()
    valid = np.flatnonzero(~np.isnan(flat))
    out = np.full(flat.shape, np.nan)
    if valid.size:
        order = valid[np.argsort(flat[valid], kind="stable")]
        k = order.size
        adjusted = np.minimum(1.0, np.maximum.accumulate((k - np.arange(k)) * flat[order]))
        out[order] = adjusted
    return out.reshape(p.shape)


def cohen_h(p1: np.ndarray, p2: np.ndarray) -> np.ndarray:
    """Cohen's h between proportions: 2 asin sqrt(p1) - 2 asin sqrt(p2)."""
    return 2 * np.arcsin(np.sqrt(p1)) - 2 * np.arcsin(np.sqrt(p2))


@dataclass(frozen=True)
class PairwiseTests:
    """Pairwise tests within one task. Matrices are (M, M); row vs column."""

    test: Literal["mcnemar_exact", "paired_permutation"]
    p_value: np.ndarray
    p_holm: np.ndarray  # Holm across all pairs of the task
    effect: Literal["cohen_h", "cohen_dz"]
    effect_size: np.ndarray
    permutations: int | None


def pairwise_tests(scores: np.ndarray, rng: np.random.Generator,
                   permutations: int = DEFAULT_PERMUTATIONS) -> PairwiseTests:
    """McNemar + Cohen's h for binary scores; permutation test + paired d_z for continuous ones."""
    x = np.asarray(scores, dtype=float)
    m = x.shape[0]
    upper = np.triu(np.ones((m, m), dtype=bool), k=1)
    binary = bool(np.all((x == 0) | (x == 1)))
    test: Literal["mcnemar_exact", "paired_permutation"]
    effect_name: Literal["cohen_h", "cohen_dz"]
    perms: int | None
    if binary:
        xi = x.astype(np.int64)
        n10 = xi @ (1 - xi).T  # row right, column wrong
        p = mcnemar_exact(n10, n10.T)
        means = x.mean(axis=1)
        effect = cohen_h(means[:, None], means[None, :])
        test, effect_name, perms = "mcnemar_exact", "cohen_h", None
    else:
        p = permutation_pvalues(x, rng, permutations)
        diff = x[:, None, :] - x[None, :, :]
        sd = diff.std(axis=2, ddof=1) if x.shape[1] > 1 else np.zeros((m, m))
        with np.errstate(invalid="ignore", divide="ignore"):
            effect = np.where(sd > 0, diff.mean(axis=2) / np.where(sd > 0, sd, 1.0), 0.0)
        test, effect_name, perms = "paired_permutation", "cohen_dz", permutations
    family = np.where(upper, p, np.nan)
    adj = holm(family)
    adj = np.where(upper, adj, adj.T)
    np.fill_diagonal(adj, 1.0)
    return PairwiseTests(test, p, adj, effect_name, effect, perms)
