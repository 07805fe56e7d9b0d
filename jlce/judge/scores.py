"""Judged scores with honest uncertainty: per model (and per category, per turn) the mean rating
and a 95% interval from a Bayesian bootstrap over questions. The two turns of a question, and
re-judged rows, are one cluster: each draw weights questions, not rows (a ratio estimator whose
point value is the plain row mean, as FastChat reports it). Unparseable judgments (FastChat
records score -1) are counted, never averaged in."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from jlce.judge.fastchat import Judgment
from jlce.stats.bayes import clustered_mean


@dataclass(frozen=True)
class JudgedScore:
    mean: float
    lo: float
    hi: float
    n: int  # judgments averaged
    questions: int
    unparseable: int


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
