"""pass@k, majority vote and agreement over an item's samples, against brute-force enumeration and
hand-computed values; the scoring of a task with k samples per item."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest

from jlce.repeats import agreement, majority, pass_at_k, pass_k_values


def brute_pass_at_k(outcomes: list[int], k: int) -> Fraction:
    """Share of all k-subsets of the samples that contain a correct one."""
    subsets = list(itertools.combinations(range(len(outcomes)), k))
    return Fraction(sum(any(outcomes[i] for i in s) for s in subsets), len(subsets))


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 8])
def test_pass_at_k_equals_enumeration_of_subsets(n):
    for c in range(n + 1):
        outcomes = [1] * c + [0] * (n - c)
        for k in range(1, n + 1):
            assert math.isclose(pass_at_k(n, c, k), float(brute_pass_at_k(outcomes, k)), abs_tol=1e-12), (n, c, k)


def test_pass_at_k_hand_computed():
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)  # 1 - C(3,2)/C(4,2) = 1 - 3/6
    assert pass_at_k(4, 2, 2) == pytest.approx(5 / 6)  # 1 - C(2,2)/C(4,2) = 1 - 1/6
    assert pass_at_k(4, 0, 4) == 0.0 and pass_at_k(4, 1, 4) == 1.0
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)  # pass@1 is the mean
    with pytest.raises(ValueError):
        pass_at_k(4, 5, 1)


def test_reported_k():
    assert pass_k_values(1) == []
    assert pass_k_values(4) == [2, 4]
    assert pass_k_values(6) == [2, 4, 6]
    assert pass_k_values(16) == [2, 4, 8, 16]


def test_majority_vote_and_agreement():
    assert majority(["a", "b", "a", "c"]) == (0, 2)
    assert majority(["b", "a", "a", "b"]) == (0, 2)  # a tie goes to the answer given first
    assert majority([None, None, "x", None]) == (2, 1)  # no answer never wins over an answer
    assert majority([None, None]) == (0, 2)
    assert agreement(["a", "a", "a", "b"]) == 0.75
    assert agreement([1, 1, 1, 1]) == 1.0
    assert agreement([0, 1, 2, 3]) == 0.25


def test_majority_equals_enumeration_of_winners():
    """For every answer pattern of 4 samples over 3 answers (+ unparseable): the winner has the
    highest count among real answers and is the earliest such."""
    for pattern in itertools.product([None, "x", "y", "z"], repeat=4):
        index, count = majority(pattern)
        real = [a for a in pattern if a is not None]
        if not real:
            assert (index, count) == (0, 4)
            continue
        best = max(real.count(a) for a in set(real))
        assert count == best and pattern.count(pattern[index]) == best
        assert all(pattern.count(pattern[j]) < best or pattern[j] is None for j in range(index))
