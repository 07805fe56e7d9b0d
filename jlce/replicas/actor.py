"""One replica: a JLCE backend living in a Ray actor's process (wrapped by `ray.remote` at run time)."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Sequence
from typing import Any

from jlce.backend import BackendConfig, supports


class Replica:
    """Loads the backend named `backend_name` through the plugin registry, as the driver would."""

    def __init__(self, backend_name: str, config: BackendConfig, environ: dict[str, str]):
        os.environ.update(environ)
        from jlce.registry import get_registry
        from jlce.specs import resolve

        spec = get_registry().get("backends", backend_name)
        self.backend = resolve(spec.factory)(config)

    def identity(self) -> dict[str, Any]:
        import ray

        backend = self.backend
        return {
            "pid": os.getpid(), "host": socket.gethostname(), "node_id": ray.get_runtime_context().get_node_id(),
            "gpu_ids": [str(g) for g in ray.get_gpu_ids()],
            "fingerprint": backend.fingerprint(), "describe": backend.describe(), "engine": backend.engine(),
            "model_names": list(backend.model_names()), "weights_probe": backend.weights_probe(),
            "capabilities": sorted(c.value for c in backend.capabilities) if hasattr(backend, "capabilities") else [],
            "count_tokens": supports(backend, "count_tokens"),
        }

    def pid(self) -> int:
        return os.getpid()

    def run(self, kind: str, requests: Sequence[Any]) -> tuple[list[tuple[int, Any]], dict[str, Any]]:
        """Answer one work unit: every batch's (index in the unit, answer) pairs and the unit's totals."""
        started = time.perf_counter()
        pairs: list[tuple[int, Any]] = []
        totals: dict[str, float] = {"prompt_tokens": 0, "generated_tokens": 0, "batches": 0, "batch_size": 0}
        for batch, event in getattr(self.backend, kind)(list(requests)):
            pairs.extend(batch)
            totals["prompt_tokens"] += event.prompt_tokens
            totals["generated_tokens"] += event.generated_tokens
            totals["batches"] += 1
            totals["batch_size"] = event.batch_size
        totals["seconds"] = time.perf_counter() - started
        return pairs, totals

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.backend.count_tokens(texts)

    def close(self) -> None:
        self.backend.close()
