"""What thinking costs, per model on the leaderboard: generated tokens (thinking and answer) per
correct answer, from each run's per-task reasoning statistics (results.json
`tasks.<task>.reasoning`, recorded when reasoning is on).

A task's figure is (thinking + answer tokens of all its outputs) / (score x outputs): for a 0/1
metric the denominator is the expected number of correct outputs (pass@1 x outputs); for a
continuous metric it is score units. Only tasks whose every output had its tokens counted take
part; the overall figure pools the tokens and correct answers of those tasks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def task_cost(reasoning: Mapping[str, Any] | None, score: float | None) -> tuple[float, float] | None:
    """(generated tokens, correct outputs) of one task, or None when unknown."""
    if not reasoning or score is None or score <= 0:
        return None
    outputs = reasoning.get("outputs") or 0
    if not outputs or reasoning.get("tokens_counted") != outputs:
        return None
    thinking = (reasoning.get("thinking_tokens") or {}).get("total")
    answer = (reasoning.get("answer_tokens") or {}).get("total")
    if thinking is None or answer is None:
        return None
    return float(thinking + answer), float(score) * outputs


def tokens_per_correct(costs: Mapping[str, tuple[float, float] | None]) -> tuple[dict[str, float], float | None]:
    """Per task and pooled over the tasks that have a cost."""
    known = {task: cost for task, cost in costs.items() if cost is not None}
    per_task = {task: tokens / correct for task, (tokens, correct) in known.items()}
    if not known:
        return per_task, None
    return per_task, sum(t for t, _ in known.values()) / sum(c for _, c in known.values())
