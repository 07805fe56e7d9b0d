"""Reading a judge's rating out of its text: `[[8]]`, `評価：[[8.5]]`, `Rating: [[7]]`.

MT-Bench's judge prompts ask for the rating in double brackets at the end of the explanation.
A reasoning judge's `<think>` block is removed first (a number it considered while thinking is
not its verdict). The rating is the last bracketed number inside the scale; a judgment with none
is unparseable (None), never a default score. FastChat takes the first bracketed number; on the
564 real GPT-4 judgments the first and last agree everywhere (tests/test_judge.py).
"""

from __future__ import annotations

import re

from jlce.reasoning import strip_reasoning

BRACKETED = re.compile(r"\[\[\s*(\d+(?:\.\d+)?)\s*\]\]")
LOOSE = re.compile(r"\[\[?\s*(\d+(?:\.\d+)?)\s*\]\]?")  # FastChat's fallback: one bracket missing


def parse_rating(judgment: str, low: float = 1.0, high: float = 10.0) -> float | None:
    """The rating in `judgment`, or None when it has no bracketed number within [low, high]."""
    text = strip_reasoning(judgment or "")
    for pattern in (BRACKETED, LOOSE):
        values = [float(v) for v in pattern.findall(text)]
        inside = [v for v in values if low <= v <= high]
        if inside:
            return inside[-1]
    return None
