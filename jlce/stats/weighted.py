"""Task statistics evaluated under Dirichlet item weights, for many models and draws at once.

Every statistic takes `W`, rows of Dirichlet weights over the task's N items followed by the two
pseudo-items (an all-0 and an all-1 score vector), and returns one value per (draw, model).
`jlce.stats.bayes.posterior_draws` passes the item weights with the pseudo columns at 0 and
mixes in each model's own prior pseudo-items itself; `digests` identify each model's inputs (its
prior weights are keyed by them).

- `MeanStat`: per-item scores in [0, 1]; theta = W @ [scores | 0 | 1].T, the score's mean under the
  weights of the items and of the two pseudo-items.
- Corpus statistics (`spearman`, `pearson`, `mcc`) are not means of per-item values, so they are
  not bootstrapped through per-item scores (a per-item map like (x+1)/2 would be meaningless).
  They are recomputed as the *weighted* statistic of the items' (prediction, gold) pairs under
  the same draw's item weights (pseudo-items dropped, item weights renormalized: by the
  Dirichlet aggregation property these are Dirichlet(1, ..., 1) over the N items). With equal
  weights each equals the usual statistic (scipy's spearmanr with average ranks, Pearson's r,
  sklearn's matthews_corrcoef); with integer weights, the statistic of the replicated data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from scipy import sparse

_EPS = 1e-12
_DENSE_LIMIT = 2_000_000


class Statistic(Protocol):
    n_items: int
    n_models: int
    width: int  # columns of intermediate arrays per draw, for chunk sizing
    digests: list[str]  # per model: a digest of its inputs

    def evaluate(self, W: np.ndarray) -> np.ndarray: ...


def digest(*arrays: Any) -> str:
    """A short digest of a model's inputs (arrays and numbers), for keying its prior weights."""
    h = hashlib.blake2b(digest_size=12)
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def item_weights(W: np.ndarray, n_items: int) -> np.ndarray:
    """Drop the two pseudo-items and renormalize the item weights to sum to 1."""
    w = W[:, :n_items]
    return w / w.sum(axis=1, keepdims=True)


def uniform_weights(n_items: int) -> np.ndarray:
    """One row of equal item weights (pseudo-items at 0): the observed, unweighted statistic."""
    w = np.zeros((1, n_items + 2))
    w[0, :n_items] = 1.0 / n_items
    return w


class MeanStat:
    """Mean of per-item scores in [0, 1] (columns for an all-0 and an all-1 pseudo-item, which
    `posterior_draws` leaves at weight 0: it adds each model's own prior pseudo-items itself)."""

    def __init__(self, scores: np.ndarray):
        scores = np.asarray(scores, dtype=float)
        if scores.ndim != 2 or np.any(scores < 0) or np.any(scores > 1):
            raise ValueError("scores must be a (models, items) array in [0, 1]")
        self.n_models, self.n_items = scores.shape
        pseudo = np.zeros((self.n_models, 2))
        pseudo[:, 1] = 1.0
        self._X = np.ascontiguousarray(np.hstack([scores, pseudo]).T)  # (N + 2, M)
        self.width = self.n_items + 2 + self.n_models
        self.digests = [digest(row) for row in scores]

    def evaluate(self, W: np.ndarray) -> np.ndarray:
        return W @ self._X


class Deduplicated:
    """Evaluates a statistic once per distinct model input and copies the result to duplicates, so
    identical models get bitwise-identical draws: their ties are exact, whatever the arithmetic."""

    def __init__(self, factory, rows: np.ndarray, *args: object):
        unique, inverse = np.unique(rows, axis=0, return_inverse=True)
        self._stat = factory(unique, *args)
        self._inverse = inverse.reshape(-1)
        self.n_models = rows.shape[0]
        self.n_items = self._stat.n_items
        self.width = self._stat.width + self.n_models
        self.digests = [self._stat.digests[i] for i in self._inverse]

    def evaluate(self, W: np.ndarray) -> np.ndarray:
        return self._stat.evaluate(W)[:, self._inverse]


def _group_matrix(values: np.ndarray) -> tuple[sparse.csr_matrix, np.ndarray]:
    """(groups x items) 0/1 matrix of the distinct values in ascending order, and each item's group."""
    uniq, inverse = np.unique(values, return_inverse=True)
    inverse = inverse.reshape(-1)
    n = values.shape[0]
    onehot = sparse.csr_matrix((np.ones(n), (inverse, np.arange(n))), shape=(uniq.shape[0], n))
    return onehot, inverse


def _compact(matrix: sparse.csr_matrix) -> sparse.csr_matrix | np.ndarray:
    """Dense when small: BLAS beats scipy's sparse-times-dense product on wide operands."""
    return matrix.toarray() if matrix.shape[0] * matrix.shape[1] <= _DENSE_LIMIT else matrix


class SpearmanStat:
    """Weighted Spearman: Pearson correlation of the weighted mid-distribution transforms.

    Under item weights w (summing to 1), F(x) = P_w(X < x) + ½ P_w(X = x), and Spearman's rho of
    the weighted empirical distribution is corr_w(F_X(X), F_Y(Y)). Over tied groups with weights
    w_g, E[F] = ½ and E[F²] = 1/3 - Σ w_g³ / 12, so Var F = (1 - Σ w_g³) / 12. Work happens per
    group of tied values (LLM predictions tie a lot), in (groups x draws) layout. A constant
    prediction has no rank information: rho = 0.
    """

    def __init__(self, preds: np.ndarray, gold: np.ndarray):
        preds = np.asarray(preds, dtype=float)
        self.n_models, self.n_items = preds.shape
        self._gold_groups, self._gold_inv = _group_matrix(np.asarray(gold, dtype=float))
        blocks = [_group_matrix(row)[0] for row in preds]
        self._groups = sparse.vstack(blocks, format="csr")
        self._sizes = np.array([b.shape[0] for b in blocks])
        self._starts = np.concatenate([[0], np.cumsum(self._sizes)[:-1]])
        self.width = 4 * self.n_items + 5 * int(self._sizes.sum())
        gold = np.asarray(gold, dtype=float)
        self.digests = [digest(row, gold) for row in preds]

    def evaluate(self, W: np.ndarray) -> np.ndarray:
        wt = np.ascontiguousarray(item_weights(W, self.n_items).T)  # (N, c)
        c = wt.shape[1]
        gw_gold = self._gold_groups @ wt
        mid_gold = np.cumsum(gw_gold, axis=0) - 0.5 * gw_gold
        var_gold = (1.0 - np.sum(gw_gold**3, axis=0)) / 12.0
        both = self._groups @ np.hstack([wt, wt * mid_gold[self._gold_inv]])  # (groups, 2c)
        gw, ga = both[:, :c], both[:, c:]
        # One running sum over all models' groups; each model's offset is removed afterwards
        # (sum_g ga_g (cum_g - before) = sum_g ga_g cum_g - before * sum_g ga_g).
        mid = np.cumsum(gw, axis=0)
        before = np.zeros((self.n_models, c))
        before[1:] = mid[self._starts[1:] - 1]
        mid -= 0.5 * gw
        mid *= ga
        cov = np.add.reduceat(mid, self._starts, axis=0)
        cov -= before * np.add.reduceat(ga, self._starts, axis=0) + 0.25
        cube = gw * gw
        cube *= gw
        var = (1.0 - np.add.reduceat(cube, self._starts, axis=0)) / 12.0
        den = var * var_gold[None, :]
        ok = den > _EPS
        return np.where(ok, cov / np.sqrt(np.where(ok, den, 1.0)), 0.0).T


class PearsonStat:
    """Weighted Pearson correlation of predictions with gold. Constant predictions give 0."""

    def __init__(self, preds: np.ndarray, gold: np.ndarray):
        x = np.asarray(preds, dtype=float).T  # (N, M)
        g = np.asarray(gold, dtype=float)
        self.digests = [digest(row, g) for row in x.T]
        self.n_items, self.n_models = x.shape
        x = x - x.mean(axis=0)  # centring keeps the moment differences well conditioned
        g = g - g.mean()
        m = self.n_models
        self._X = np.hstack([x, x * x, x * g[:, None], g[:, None], (g * g)[:, None]])
        self._m = m
        self.width = self.n_items + self._X.shape[1]

    def evaluate(self, W: np.ndarray) -> np.ndarray:
        m = self._m
        mom = item_weights(W, self.n_items) @ self._X
        sx, sxx, sxy = mom[:, :m], mom[:, m : 2 * m], mom[:, 2 * m : 3 * m]
        sg, sgg = mom[:, 3 * m : 3 * m + 1], mom[:, 3 * m + 1 :]
        den = (sxx - sx * sx) * (sgg - sg * sg)
        ok = den > _EPS
        return np.where(ok, (sxy - sx * sg) / np.sqrt(np.where(ok, den, 1.0)), 0.0)


class MCCStat:
    """Weighted Matthews correlation (multi-class R_K, as sklearn), from label codes."""

    def __init__(self, preds: np.ndarray, gold: np.ndarray, n_classes: int):
        preds = np.asarray(preds, dtype=np.int64)
        gold = np.asarray(gold, dtype=np.int64)
        self.n_models, self.n_items = preds.shape
        k, n, m = n_classes, self.n_items, self.n_models
        items = np.arange(n)
        self._gold_onehot = sparse.csr_matrix((np.ones(n), (gold, items)), shape=(k, n))
        rows = (np.arange(m)[:, None] * k + preds).reshape(-1)
        self._pred_onehot = _compact(sparse.csr_matrix((np.ones(n * m), (rows, np.tile(items, m))), shape=(m * k, n)))
        self._correct = (preds == gold[None, :]).astype(float)  # (M, N)
        self._k = k
        self.width = 2 * self.n_items + (k + 3) * m + k
        self.digests = [digest(row, gold, np.int64(k)) for row in preds]

    def evaluate(self, W: np.ndarray) -> np.ndarray:
        wt = np.ascontiguousarray(item_weights(W, self.n_items).T)  # (N, c)
        c = wt.shape[1]
        t = self._gold_onehot @ wt  # (K, c) weight of each true class
        p = (self._pred_onehot @ wt).reshape(self.n_models, self._k, c)  # predicted-class weights
        correct = self._correct @ wt  # (M, c)
        cov_tp = correct - np.einsum("kc,mkc->mc", t, p)
        den = (1.0 - np.einsum("mkc,mkc->mc", p, p)) * (1.0 - np.sum(t * t, axis=0))[None, :]
        ok = den > _EPS
        return np.where(ok, cov_tp / np.sqrt(np.where(ok, den, 1.0)), 0.0).T


def numeric_predictions(raw: Sequence[Any], invalid: float | str = "median") -> tuple[np.ndarray, int]:
    """Values as floats, parsed as the correlation metrics parse them (NFKC, commas, minus signs).

    Unreadable ones become `invalid`: a number, or "median" (the median of the readable values:
    no rank information either way). Returns the values and how many were unreadable.
    """
    from jlce.metrics.correlation import parse_number

    values = np.full(len(raw), np.nan)
    for i, v in enumerate(raw):
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            values[i] = v if np.isfinite(v) else np.nan
        elif isinstance(v, str):
            values[i] = parse_number(v)
    bad = np.isnan(values)
    if invalid == "median":
        values[bad] = np.median(values[~bad]) if (~bad).any() else 0.0
    else:
        values[bad] = float(invalid)
    return values, int(bad.sum())


def label_key(value: Any) -> str:
    """A label's identity for MCC: integral numbers and their strings coincide ('1' == 1 == 1.0)."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def label_codes(gold: Sequence[Any], preds: Sequence[Sequence[Any]]) -> tuple[np.ndarray, np.ndarray, int]:
    """Integer codes for gold labels and each model's predicted labels over a shared alphabet."""
    alphabet: dict[str, int] = {}

    def code(v: Any) -> int:
        return alphabet.setdefault(label_key(v), len(alphabet))

    gold_codes = np.array([code(g) for g in gold], dtype=np.int64)
    pred_codes = np.array([[code(p) for p in row] for row in preds], dtype=np.int64).reshape(len(preds), len(gold))
    return gold_codes, pred_codes, len(alphabet)
