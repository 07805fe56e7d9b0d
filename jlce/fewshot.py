"""Few-shot example selection: which pool documents each evaluated item is shown.

Samplers (`fewshot.sampler` in a task file):

- `fixed`: one seeded random set, shared by every item (its prefix is computed once).
- `first`: the first `n` candidates in file order, shared by every item.
- `per_item`: a different seeded set for each item, drawn as lm-evaluation-harness draws them:
  one `random.Random(seed)` for the task, and for each item in evaluation order
  `rng.sample(pool, n)` (lm-eval's `ContextSampler.sample`). With a few-shot split other than the
  evaluated one, item *i* gets exactly the examples lm-eval gives it with the same seed.
- `stratified`: one seeded set shared by every item, spread evenly over the gold labels:
  each label gets `n // K` examples (K labels in the pool), the remainder goes to labels drawn at
  random, a label with too few examples hands its share to the others; the chosen examples are
  then put in a seeded random order so that no label always comes last.

Candidates never include an evaluated item: with the few-shot split equal to the evaluated one,
the first `n_eval` documents (the ones evaluated) are left out of the pool.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from jlce.errors import UserError

SAMPLERS = ("fixed", "first", "per_item", "stratified")


@dataclass(frozen=True)
class FewshotPlan:
    """The pool indices shown to each item: `shared` for every item, or `per_item[i]` for item i."""

    shared: tuple[int, ...] = ()
    per_item: tuple[tuple[int, ...], ...] | None = None

    def for_item(self, index: int) -> tuple[int, ...]:
        return self.per_item[index] if self.per_item is not None else self.shared

    @property
    def all_ids(self) -> list[int]:
        """Every pool index shown to some item (sorted for per_item, in prompt order otherwise)."""
        if self.per_item is None:
            return list(self.shared)
        return sorted({i for ids in self.per_item for i in ids})


def plan(
    sampler: str,
    candidates: Sequence[int],
    n: int,
    seed: int,
    n_items: int,
    *,
    task: str,
    label_of: Callable[[int], Hashable] | None = None,
) -> FewshotPlan:
    """Choose `n` examples among `candidates` (pool indices) for `n_items` items."""
    if len(candidates) < n:
        raise UserError(f"task '{task}': {n} few-shot examples requested but only {len(candidates)} are available")
    if sampler == "first":
        return FewshotPlan(shared=tuple(candidates[:n]))
    if sampler == "fixed":
        return FewshotPlan(shared=tuple(random.Random(seed).sample(list(candidates), n)))
    if sampler == "per_item":
        rng = random.Random(seed)
        pool = list(candidates)
        return FewshotPlan(per_item=tuple(tuple(rng.sample(pool, n)) for _ in range(n_items)))
    if sampler == "stratified":
        if label_of is None:
            raise UserError(f"task '{task}': the stratified sampler needs the examples' labels")
        return FewshotPlan(shared=tuple(stratified(candidates, n, seed, label_of)))
    raise UserError(f"task '{task}': unknown few-shot sampler '{sampler}' (one of {', '.join(SAMPLERS)})")


def stratified(candidates: Sequence[int], n: int, seed: int, label_of: Callable[[int], Hashable]) -> list[int]:
    """`n` candidates spread as evenly as possible over their labels (see the module docstring)."""
    rng = random.Random(seed)
    groups: dict[Hashable, list[int]] = {}
    for index in candidates:
        groups.setdefault(label_of(index), []).append(index)
    labels = list(groups)  # first-appearance order: deterministic for a given file
    quota = dict.fromkeys(labels, 0)
    remaining = n
    open_labels = labels
    while remaining and open_labels:
        share, extra = divmod(remaining, len(open_labels))
        lucky = set(rng.sample(open_labels, extra))
        for label in open_labels:
            quota[label] += min(share + (label in lucky), len(groups[label]) - quota[label])
        remaining = n - sum(quota.values())
        open_labels = [label for label in labels if quota[label] < len(groups[label])]
    chosen = [i for label in labels for i in rng.sample(groups[label], quota[label])]
    rng.shuffle(chosen)
    return chosen
