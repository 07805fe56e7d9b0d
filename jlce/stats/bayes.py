"""Bayesian bootstrap with shared item weights and per-model prior pseudo-items; rank and pairwise
probabilities.

Per task, every draw takes ONE weight vector over the N items, shared by all models (the pairing
of models that answered the same items), and for EACH model its own two prior pseudo-items, one at
the worst and one at the best value of the statistic, with weights drawn independently of the other
models. With unnormalized weights G_i ~ Exp(1) (items, shared)
and g0, g1 ~ Exp(1) (per model):

    theta_m = (sum_i G_i x_mi + g1_m * high + g0_m * low) / (sum_i G_i + g0_m + g1_m)

Each model's marginal is exactly Dirichlet(1, ..., 1) over [items | low | high]: for binary scores
Beta(k + 1, N - k + 1). Shared all-0/all-1 pseudo-items would cancel in every difference (two
models that differ on one item of 100 got P(B > A) = 1.000); per-model ones keep the uniform
prior's uncertainty about the outcomes on which two models disagree, so pairwise and rank
probabilities do not collapse to 0 or 1. One implementation serves the leaderboard, `jlce compare`
and `jlce verify` (`posterior_draws`), so they agree on the same runs.

A model's prior weights come from a generator keyed by the seed, the task key and a digest of
the model's inputs: draws depend only on those - not on the chunk size, the model order or which
other models and tasks are present - and models with identical inputs get bitwise-identical
draws (an exact tie, P = 1/2).
"""

from __future__ import annotations

import contextlib
import functools
import zlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import betaln

from jlce.stats.weighted import Statistic

DEFAULT_DRAWS = 4000
CHUNK_BYTES = 16 * 2**20


@functools.cache
def _blas_controller():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # optional: only a speed-up
        return None
    return ThreadpoolController()


def single_threaded_blas() -> contextlib.AbstractContextManager:
    """Run BLAS on one thread. The products here are many and skinny; threading them costs far
    more than it gains (measured 20x slower on a busy 2-core machine)."""
    controller = _blas_controller()
    return controller.limit(limits=1, user_api="blas") if controller else contextlib.nullcontext()


def task_rng(seed: int, key: str) -> np.random.Generator:
    """The generator of one task's weights: depends on the seed and the task key only."""
    return np.random.Generator(np.random.SFC64(np.random.SeedSequence([int(seed), zlib.crc32(key.encode())])))


def dirichlet_rows(rng: np.random.Generator, rows: int, n: int) -> np.ndarray:
    """`rows` draws of Dirichlet(1, ..., 1) over `n` cells (normalized standard exponentials)."""
    g = rng.standard_exponential((rows, n))
    g /= g.sum(axis=1, keepdims=True)
    return g


@dataclass(frozen=True)
class Prior:
    """Each model's two prior pseudo-items: one scoring `low` (the statistic's worst value), one
    scoring `high` (its best), in the units the statistic returns."""

    low: float = 0.0
    high: float = 1.0


UNIT_PRIOR = Prior(0.0, 1.0)


def prior_weights(seed: int, key: str, digest: str, draws: int) -> np.ndarray:
    """(draws, 2) Exp(1) weights of one model's pseudo-items [low, high] (keyed by its inputs)."""
    return task_rng(seed, f"{key}\x00prior\x00{digest}").standard_exponential((draws, 2))


def posterior_draws(stat: Statistic, draws: int, seed: int, key: str, prior: Prior | None = UNIT_PRIOR,
                    chunk_bytes: int = CHUNK_BYTES, digests: Sequence[str] | None = None) -> np.ndarray:
    """(draws, models) posterior draws of a task statistic: shared item weights, per-model prior
    pseudo-items (module docstring). `prior=None`: no pseudo-items (the plain Bayesian bootstrap).

    Statistics take rows of weights over [items | pseudo | pseudo]; they get the normalized item
    weights with both pseudo columns at 0, and the prior is mixed in here, per model."""
    rng = task_rng(seed, key)
    n, m = stat.n_items, stat.n_models
    out = np.empty((draws, m))
    totals = np.empty(draws)
    rows = max(1, min(draws, chunk_bytes // (8 * max(stat.width, 1))))
    with single_threaded_blas():
        for start in range(0, draws, rows):
            stop = min(draws, start + rows)
            e = rng.standard_exponential((stop - start, n))
            total = e.sum(axis=1)
            totals[start:stop] = total
            w = np.zeros((stop - start, n + 2))
            w[:, :n] = e / total[:, None]
            out[start:stop] = stat.evaluate(w)
    if prior is None:
        return out
    digests = list(digests if digests is not None else stat.digests)
    if len(digests) != m:
        raise ValueError("one digest per model is needed")
    weights = {d: prior_weights(seed, key, d, draws) for d in dict.fromkeys(digests)}
    for j, d in enumerate(digests):
        g0, g1 = weights[d][:, 0], weights[d][:, 1]
        out[:, j] = (totals * out[:, j] + g0 * prior.low + g1 * prior.high) / (totals + g0 + g1)
    return out


@dataclass(frozen=True)
class ScopeStats:
    """Posterior summary of one ranking scope (a task, a category, or overall)."""

    mean: np.ndarray  # (M,) posterior mean
    lo: np.ndarray  # (M,) lower end of the equal-tailed credible interval
    hi: np.ndarray  # (M,) upper end
    p_rank: np.ndarray  # (M, M): [model, k-1] = P(rank = k)
    expected_rank: np.ndarray  # (M,)
    rank_ub: np.ndarray  # (M,) Arena-style conservative rank
    p_better: np.ndarray  # (M, M): P(row > col) + ½ P(tie); diagonal ½


def rank_probabilities(theta: np.ndarray) -> np.ndarray:
    """P(rank = k) per model from draws (higher is better). Models tied in a draw (equal values)
    share the ranks they span equally, so every row and every column sums to 1."""
    s, m = theta.shape
    order = np.argsort(-theta, axis=1, kind="stable")
    srt = np.take_along_axis(theta, order, axis=1)
    pos = np.broadcast_to(np.arange(m), (s, m))
    new_group = np.ones((s, m), dtype=bool)
    new_group[:, 1:] = srt[:, :-1] > srt[:, 1:]
    if new_group.all():  # no ties: the model at position k has rank k + 1
        return np.bincount((order * m + pos).ravel(), minlength=m * m).reshape(m, m) / s
    start = np.maximum.accumulate(np.where(new_group, pos, 0), axis=1)
    last = np.ones((s, m), dtype=bool)
    last[:, :-1] = new_group[:, 1:]
    end = np.minimum.accumulate(np.where(last, pos, m - 1)[:, ::-1], axis=1)[:, ::-1]
    share = 1.0 / (end - start + 1)
    # Difference array: +share at the group's first rank, -share after its last one.
    idx = np.concatenate([(order * (m + 1) + start).ravel(), (order * (m + 1) + end + 1).ravel()])
    weights = np.concatenate([share.ravel(), -share.ravel()])
    counts = np.bincount(idx, weights=weights, minlength=m * (m + 1)).reshape(m, m + 1)
    return np.cumsum(counts, axis=1)[:, :m] / s


def pairwise_probabilities(theta: np.ndarray) -> np.ndarray:
    """P(row > col) + ½ P(row = col) from draws (higher is better): ½ + (#(a > b) - #(b > a)) / 2S."""
    s, m = theta.shape
    by_model = np.ascontiguousarray(theta.T)
    p = np.full((m, m), 0.5)
    for a in range(m - 1):
        rest = by_model[a + 1 :]
        wins = np.count_nonzero(by_model[a] > rest, axis=1) - np.count_nonzero(by_model[a] < rest, axis=1)
        p[a, a + 1 :] = 0.5 + wins / (2 * s)
        p[a + 1 :, a] = 0.5 - wins / (2 * s)
    return p


def arena_rank(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """1 + the number of models whose lower bound exceeds this model's upper bound."""
    return 1 + np.sum(lo[None, :] > hi[:, None], axis=1)


def credible_intervals(theta: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed credible intervals of each column of (S, M) draws."""
    alpha = (1 - level) / 2
    lo, hi = np.quantile(theta, [alpha, 1 - alpha], axis=0)
    return lo, hi


def combine(draws: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """Weighted sum of per-task (S, M) draws on each draw (weights normalized to sum to 1)."""
    weights = np.asarray(weights, dtype=float) / np.sum(weights)
    total = np.zeros_like(draws[0], dtype=float)
    for w, d in zip(weights, draws):
        total += w * d
    return total


def summarize(theta: np.ndarray, level: float = 0.95, higher_is_better: bool = True) -> ScopeStats:
    """Posterior means, equal-tailed intervals, rank and pairwise probabilities of (S, M) draws."""
    lo, hi = credible_intervals(theta, level)
    oriented = theta if higher_is_better else -theta
    p_rank = rank_probabilities(oriented)
    olo, ohi = (lo, hi) if higher_is_better else (-hi, -lo)
    return ScopeStats(
        mean=theta.mean(axis=0),
        lo=lo,
        hi=hi,
        p_rank=p_rank,
        expected_rank=p_rank @ np.arange(1, theta.shape[1] + 1),
        rank_ub=arena_rank(olo, ohi),
        p_better=pairwise_probabilities(oriented),
    )


def prob_beta_greater(a_b: float, b_b: float, a_a: float, b_a: float) -> float:
    """Closed form of P(p_B > p_A) for independent p_A ~ Beta(a_a, b_a), p_B ~ Beta(a_b, b_b);
    `a_b` must be an integer (Evan Miller, "Formulas for Bayesian A/B testing", 2015)."""
    if a_b != int(a_b) or a_b < 1:
        raise ValueError("a_b must be a positive integer")
    i = np.arange(int(a_b))
    terms = betaln(a_a + i, b_a + b_b) - np.log(b_b + i) - betaln(1 + i, b_b) - betaln(a_a, b_a)
    return float(np.exp(terms).sum())


CLUSTER_DRAWS = 4000


def clustered_mean(rows: Sequence[tuple[str, float]], draws: int = CLUSTER_DRAWS, seed: int = 0) -> tuple[float, float, float]:
    """(mean, lo, hi) of the values, resampling the clusters (first element) with Dirichlet weights: a
    Bayesian bootstrap over clusters of a ratio estimator whose point value is the plain row mean
    (the judge scores: the two turns of a question, and re-judged rows, are one cluster)."""
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for cluster, value in rows:
        sums[cluster] += value
        counts[cluster] += 1
    s = np.array(list(sums.values()))
    c = np.array([counts[k] for k in sums], dtype=float)
    mean = float(s.sum() / c.sum())
    if len(s) < 2 or draws < 1:
        return mean, mean, mean
    weights = np.random.default_rng(seed).dirichlet(np.ones(len(s)), size=draws)
    theta = (weights @ s) / (weights @ c)
    lo, hi = np.quantile(theta, [0.025, 0.975])
    return mean, float(lo), float(hi)
