"""Judged scores with honest uncertainty: per model (and per category, per turn) the mean rating
and a 95% interval from a Bayesian bootstrap over questions. The two turns of a question, and
re-judged rows, are one cluster: each draw weights questions, not rows (a ratio estimator whose
point value is the plain row mean, as FastChat reports it). Unparseable judgments (FastChat
records score -1) are counted, never averaged in."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from jlce.judge.fastchat import Judgment

DRAWS = 4000


@dataclass(frozen=True)
class JudgedScore:
    mean: float
    lo: float
    hi: float
    n: int  # judgments averaged
    questions: int
    unparseable: int


def clustered_mean(rows: Sequence[tuple[str, float]], draws: int = DRAWS, seed: int = 0) -> tuple[float, float, float]:
    """(mean, lo, hi) of the values, resampling the clusters (first element) with Dirichlet weights."""
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


def score_of(judgments: Sequence[Judgment], seed: int = 0) -> JudgedScore | None:
    valid = [(j.question_id, j.score) for j in judgments if j.score >= 0]
    if not valid:
        return None
    mean, lo, hi = clustered_mean(valid, seed=seed)
    return JudgedScore(mean, lo, hi, len(valid), len({q for q, _ in valid}), len(judgments) - len(valid))


def model_scores(judgments: Sequence[Judgment], categories: Mapping[str, str] | None = None,
                 seed: int = 0) -> dict[str, dict[str, JudgedScore]]:
    """model -> {"overall", "turn <n>", "<category>"} -> score."""
    by_model: dict[str, list[Judgment]] = defaultdict(list)
    for judgment in judgments:
        by_model[judgment.model].append(judgment)
    out: dict[str, dict[str, JudgedScore]] = {}
    for model, rows in sorted(by_model.items()):
        groups: dict[str, list[Judgment]] = {"overall": rows}
        for row in rows:
            groups.setdefault(f"turn {row.turn}", []).append(row)
            if categories and row.question_id in categories:
                groups.setdefault(categories[row.question_id], []).append(row)
        out[model] = {name: score for name, group in groups.items() if (score := score_of(group, seed)) is not None}
    return out
