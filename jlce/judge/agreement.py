"""How a judge agrees with another judge's recorded judgments of the same answers.

Judgments are matched by (question, model, turn); re-judged rows are averaged first. Reported:
Spearman and Kendall correlation over answers, mean absolute score difference, the share of
exactly equal scores, and how the two judges rank the models (Kendall's tau between per-model
means, and whether they pick the same best model)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from jlce.errors import UserError
from jlce.judge.fastchat import Judgment


@dataclass(frozen=True)
class Agreement:
    answers: int
    spearman: float
    kendall: float
    mean_abs_diff: float
    exact_share: float
    models: int
    model_rank_kendall: float | None
    same_best_model: bool | None
    model_means: dict[str, tuple[float, float]]  # model -> (reference mean, candidate mean)


def _keyed(judgments: Sequence[Judgment]) -> dict[tuple[str, str, int], float]:
    sums: dict[tuple[str, str, int], list[float]] = defaultdict(list)
    for j in judgments:
        if j.score >= 0:
            sums[(j.question_id, j.model, j.turn)].append(j.score)
    return {key: sum(v) / len(v) for key, v in sums.items()}


def agreement(reference: Sequence[Judgment], candidate: Sequence[Judgment]) -> Agreement:
    from scipy.stats import kendalltau, spearmanr

    ref, cand = _keyed(reference), _keyed(candidate)
    common = sorted(set(ref) & set(cand))
    if len(common) < 3:
        raise UserError(f"the two judgment sets share {len(common)} answers (question, model, turn); need at least 3")
    a = [ref[k] for k in common]
    b = [cand[k] for k in common]
    by_model: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for key, x, y in zip(common, a, b):
        by_model[key[1]].append((x, y))
    means = {m: (sum(x for x, _ in v) / len(v), sum(y for _, y in v) / len(v)) for m, v in sorted(by_model.items())}
    rank_tau = best = None
    if len(means) >= 2:
        rank_tau = float(kendalltau([r for r, _ in means.values()], [c for _, c in means.values()]).statistic)
        best = max(means, key=lambda m: means[m][0]) == max(means, key=lambda m: means[m][1])
    return Agreement(
        answers=len(common), spearman=float(spearmanr(a, b).statistic), kendall=float(kendalltau(a, b).statistic),
        mean_abs_diff=sum(abs(x - y) for x, y in zip(a, b)) / len(a),
        exact_share=sum(x == y for x, y in zip(a, b)) / len(a),
        models=len(means), model_rank_kendall=rank_tau, same_best_model=best, model_means=means)
