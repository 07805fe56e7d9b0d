"""Reading a judge's rating out of its text: `[[8]]`, `評価：[[8.5]]`, `Rating: [[7]]`.

MT-Bench's judge prompts ask for the rating in double brackets at the end of the explanation.
A reasoning judge's `<think>` block is removed first (a number it considered while thinking is
not its verdict). The rating is the last bracketed number inside the scale; a judgment with none
is unparseable (None), never a default score. FastChat takes the first bracketed number; on the
564 real GPT-4 judgments the first and last agree everywhere (tests/test_judge.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from jlce.reasoning import strip_reasoning

BRACKETED = re.compile(r"\[\[\s*(\d+(?:\.\d+)?)\s*\]\]")
LOOSE = re.compile(r"\[\[?\s*(\d+(?:\.\d+)?)\s*\]\]?")  # FastChat's fallback: one bracket missing
# the format's name echoed before the number: "[[評価]]: 7", "[[rating]]：7"
LABELLED = re.compile(r"\[\[\s*(?:評価|rating)\s*\]\]\s*[:：]?\s*(\d+(?:\.\d+)?)", re.IGNORECASE)


def parse_rating(judgment: str, low: float = 1.0, high: float = 10.0,
                 patterns: Sequence[re.Pattern[str]] = (BRACKETED, LOOSE, LABELLED)) -> float | None:
    """The rating in `judgment`, or None when it has no bracketed number within [low, high].
    `patterns` are tried in order (a task's `judge.patterns`, group 1 the rating)."""
    text = strip_reasoning(judgment or "")
    for pattern in patterns:
        values = [float(v) for v in pattern.findall(text) if _number(v)]
        inside = [v for v in values if low <= v <= high]
        if inside:
            return inside[-1]
    return None


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


VERDICT = re.compile(r"\[\[\s*([ABC])\s*\]\]")


def parse_verdict(judgment: str) -> str | None:
    """A pairwise judge's verdict: "A", "B", "tie" (FastChat's `[[C]]`), or None when it gave none.
    The last verdict after the reasoning counts."""
    found = VERDICT.findall(strip_reasoning(judgment or ""))
    if not found:
        return None
    return {"A": "A", "B": "B", "C": "tie"}[found[-1]]
