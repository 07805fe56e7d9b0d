"""Statistics over the k samples of an item: pass@k, majority vote, agreement.

With n items and k samples each, the item is the unit of sampling: an item's k scores are one
cluster, so intervals are computed over the n per-item means (never over n*k draws as if they were
independent). See docs/metrics.md ("Repeated sampling").
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from math import comb


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021) from n samples of which c are correct:
    1 - C(n-c, k) / C(n, k), the probability that k samples drawn without replacement from the n
    include a correct one."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n (n={n}, c={c}, k={k})")
    return 1.0 - comb(n - c, k) / comb(n, k)


def pass_k_values(n: int) -> list[int]:
    """The k reported for n samples: 2, 4, 8, ... below n, and n itself (pass@1 is the mean)."""
    values = []
    k = 2
    while k < n:
        values.append(k)
        k *= 2
    return values + [n] if n > 1 else []


def majority(answers: Sequence[Hashable | None]) -> tuple[int, int]:
    """(index of the sample whose answer won the vote, how many samples gave that answer).

    Answers that are None (empty or unparseable) do not vote unless every answer is None. Ties go
    to the answer given first (lowest sample index), so the vote depends only on the samples."""
    counts: dict[Hashable, int] = {}
    first: dict[Hashable, int] = {}
    for j, answer in enumerate(answers):
        if answer is None:
            continue
        counts[answer] = counts.get(answer, 0) + 1
        first.setdefault(answer, j)
    if not counts:
        return 0, len(answers)
    best = max(counts, key=lambda a: (counts[a], -first[a]))
    return first[best], counts[best]


def agreement(answers: Sequence[Hashable | None]) -> float:
    """Share of an item's samples that give its majority answer (1.0: all samples agree)."""
    if not answers:
        return float("nan")
    return majority(answers)[1] / len(answers)
