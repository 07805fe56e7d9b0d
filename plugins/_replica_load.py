"""Per-replica throughput and load for the timing profile (`profile.timing.replicas`).

A data-parallel run (`jlce run --replicas N`, `jlce.replicas`) tags each batch event with the
replica that computed it (`extra["replica"]`) and how many tries its work unit took
(`extra["tries"]`); each event is one work unit. Deaths, restarts, timeouts and re-queued units
never produce a batch event: they come from the backend's driver-side counters
(`replica_health()`) at the end of the run. Single-process runs have no such events and get no
`replicas` section.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

HEALTH_FIELDS = ("requeued", "deaths", "restarts", "timeouts", "lost")


class _Replica:
    __slots__ = ("units", "requests", "busy_seconds", "prompt_tokens", "generated_tokens", "retried_units", "by_kind")

    def __init__(self) -> None:
        self.units = self.requests = self.prompt_tokens = self.generated_tokens = self.retried_units = 0
        self.busy_seconds = 0.0
        self.by_kind: dict[str, int] = {}

    def add(self, event: Any) -> None:
        self.units += 1
        self.requests += event.size
        self.busy_seconds += event.seconds
        self.prompt_tokens += event.prompt_tokens
        self.generated_tokens += event.generated_tokens
        self.retried_units += int(event.extra.get("tries") or 1) > 1
        self.by_kind[event.kind] = self.by_kind.get(event.kind, 0) + event.size


class ReplicaLoad:
    """Collects batch events that name a replica; reports per replica and the balance between them."""

    def __init__(self) -> None:
        self._replicas: dict[int, _Replica] = {}

    def add(self, event: Any) -> None:
        replica = event.extra.get("replica") if isinstance(event.extra, Mapping) else None
        if isinstance(replica, int) and not isinstance(replica, bool):
            self._replicas.setdefault(replica, _Replica()).add(event)

    def report(self, inference_seconds: float, health: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any] | None:
        """None when no event named a replica and the backend reports none."""
        by_number = {int(h["replica"]): h for h in health or ()}
        numbers = sorted(set(self._replicas) | set(by_number))
        if not numbers:
            return None
        stats = {n: self._replicas.get(n, _Replica()) for n in numbers}
        requests = sum(s.requests for s in stats.values())
        busy = [s.busy_seconds for s in stats.values()]
        rows = []
        for n in numbers:
            s, h = stats[n], by_number.get(n, {})
            rows.append({
                "replica": n, "host": h.get("host"), "units": s.units, "requests": s.requests,
                "requests_by_kind": dict(sorted(s.by_kind.items())), "busy_seconds": s.busy_seconds,
                "prompt_tokens": s.prompt_tokens, "generated_tokens": s.generated_tokens,
                "requests_per_s": s.requests / s.busy_seconds if s.busy_seconds > 0 else None,
                "share": s.requests / requests if requests else None,
                "utilization": s.busy_seconds / inference_seconds if inference_seconds > 0 else None,
                "retried_units": s.retried_units,
                **{key: h.get(key, False if key == "lost" else 0) for key in HEALTH_FIELDS},
            })
        return {
            "count": len(numbers), "requests": requests, "units": sum(s.units for s in stats.values()),
            "busy_seconds": sum(busy), "inference_seconds": inference_seconds,
            "balance": min(busy) / max(busy) if max(busy) > 0 else None,
            "per_replica": rows,
        }


def replica_health(backend: Any) -> list[dict[str, Any]] | None:
    """The backend's per-replica counters, when it is a replica backend."""
    health = getattr(backend, "replica_health", None)
    return list(health()) if callable(health) else None
