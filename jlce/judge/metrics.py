"""A judged task's metrics, recorded like any task's: the headline value with a 95% interval from a
Bayesian bootstrap over questions (the turns of a question are one cluster), per turn, per
category, and the judgments that could not be parsed (counted, never averaged in, never dropped).

Single-answer: `judge_score`, the mean of each question's mean valid rating (the leaderboard's
items); `row_mean` beside it is FastChat's figure (the mean over judgments; equal when every
judgment parsed). Pairwise: `judge_win_rate`, a win counting 1, a tie 1/2, a loss 0, per
question and turn."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from jlce.judge.scores import clustered_mean

METHOD = "bayesian bootstrap over questions (turns clustered)"


def _entry(rows: Sequence[tuple[str, float]], seed: int) -> dict[str, Any] | None:
    if not rows:
        return None
    mean, lo, hi = clustered_mean(list(rows), seed=seed)
    return {"value": mean, "ci95": [lo, hi], "n": len(rows), "questions": len({q for q, _ in rows})}


def _stderr(values: list[float]) -> float | None:
    if len(values) < 2:
        return None
    mean = sum(values) / len(values)
    return (sum((v - mean) ** 2 for v in values) / (len(values) - 1) / len(values)) ** 0.5


def item_means(rows: Sequence[tuple[str, float]]) -> dict[str, float]:
    by_question: dict[str, list[float]] = defaultdict(list)
    for question, value in rows:
        by_question[question].append(value)
    return {q: sum(v) / len(v) for q, v in by_question.items()}


def judged_metric(name: str, records: Sequence[dict[str, Any]], categories: dict[str, str], scale: tuple[float, float],
                  seed: int, higher_is_better: bool = True) -> dict[str, Any]:
    """`records`: one per judged (question, turn): {"question_id", "turn", "value" (None: unparseable)}."""
    valid = [(r["question_id"], float(r["value"])) for r in records if r["value"] is not None]
    failures = sum(r["value"] is None for r in records)
    items = item_means(valid)
    headline = _entry(list(items.items()), seed)
    row_mean = _entry(valid, seed) if valid else None
    entry: dict[str, Any] = {
        "value": headline["value"] if headline else None,
        "stderr": _stderr(list(items.values())),
        "ci95": headline["ci95"] if headline else None,
        "higher_is_better": higher_is_better, "corpus": False, "interval_method": METHOD,
        "scale": list(scale), "questions": len(items), "judgments": len(records),
        "parse_failures": failures, "parse_failure_share": failures / len(records) if records else None,
        "row_mean": row_mean["value"] if row_mean else None,
    }
    turns = sorted({r["turn"] for r in records})
    entry["by_turn"] = {str(t): _entry([(r["question_id"], float(r["value"])) for r in records
                                        if r["turn"] == t and r["value"] is not None], seed) for t in turns}
    entry["by_category"] = {c: _entry([(q, v) for q, v in valid if categories.get(q) == c], seed)
                            for c in sorted(set(categories.values()))}
    return entry
