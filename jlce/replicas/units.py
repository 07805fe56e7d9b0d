"""Work units: the requests of one kind cut into pieces that replicas take one at a time.

Requests that share a context (a multiple-choice item's choices, an item's k samples) stay in one
unit, so a replica computes the shared prefix once. Units are ordered largest first (by
characters, a proxy for compute) so the long ones do not finish last, and sized so that every
replica gets several: a fast replica then simply takes more units (dynamic balancing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

UNITS_PER_REPLICA = 8  # enough units that a fast replica can take more; few enough that per-unit overhead stays small


@dataclass(frozen=True)
class WorkUnit:
    """Indices into the kind's request list, and their total size in characters."""

    number: int
    indices: tuple[int, ...]
    chars: int


def _context(request: Any) -> str:
    return getattr(request, "context", None) or getattr(request, "text", "") or ""


def _size(request: Any) -> int:
    return len(_context(request)) + len(getattr(request, "continuation", "") or "")


def plan_units(requests: Sequence[Any], replicas: int, min_unit: int = 1,
               units_per_replica: int = UNITS_PER_REPLICA) -> list[WorkUnit]:
    """Cut `requests` into units: shared-context groups kept whole, largest first."""
    if not requests:
        return []
    groups: dict[str, list[int]] = {}
    for index, request in enumerate(requests):
        groups.setdefault(_context(request), []).append(index)
    target = max(min_unit, -(-len(requests) // max(1, replicas * units_per_replica)))
    ordered = sorted(groups.values(), key=lambda g: (-sum(_size(requests[i]) for i in g), g[0]))
    units: list[list[int]] = []
    current: list[int] = []
    for group in ordered:
        if current and len(current) + len(group) > target:
            units.append(current)
            current = []
        current.extend(group)
    if current:
        units.append(current)
    planned = [WorkUnit(0, tuple(u), sum(_size(requests[i]) for i in u)) for u in units]
    planned.sort(key=lambda unit: -unit.chars)
    return [WorkUnit(number, unit.indices, unit.chars) for number, unit in enumerate(planned)]
