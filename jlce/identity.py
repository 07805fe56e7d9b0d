"""A model's identity for the request cache: its fingerprint, plus, for a remote model whose
weights cannot be hashed, the log-probabilities it gives a fixed probe text (`Backend.weights_probe`).

Probe values jitter slightly between runs of the same weights (server batching, kernels), so a
probe is compared with the probes stored for the same fingerprint within a tolerance; a match
reuses that probe's id, anything else is new weights and gets a new id (and so new cache keys).
What this can and cannot detect is stated in docs/backends.md ("What a remote fingerprint detects").
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

# Same weights: mean |Δ| per probe token at most 0.02 nats and no token off by more than 0.1.
# Noise between runs of the same weights on one server is far smaller (1e-6 in fp32, ~1e-2 in
# bf16); a different checkpoint moves typical tokens by tenths of a nat or more.
MEAN_TOLERANCE = 0.02
MAX_TOLERANCE = 0.1


def probes_match(a: Sequence[float], b: Sequence[float]) -> bool:
    if len(a) != len(b) or not a:
        return False
    deltas = [abs(x - y) for x, y in zip(a, b)]
    return sum(deltas) / len(deltas) <= MEAN_TOLERANCE and max(deltas) <= MAX_TOLERANCE


def probe_id(probe: Sequence[float]) -> str:
    return hashlib.sha256(json.dumps([round(v, 3) for v in probe]).encode()).hexdigest()[:16]


def model_identity(backend: Any, cache: Any, fingerprint_hash) -> dict[str, Any]:
    """The fingerprint the cache keys and results.json use: the backend's, plus `weights_probe_id`
    when the backend has a weights probe (resolved against the cache's stored probes)."""
    fingerprint = dict(backend.fingerprint())
    probe = getattr(backend, "weights_probe", lambda: None)()  # duck-typed backends may lack it
    if probe is not None:
        base = fingerprint_hash(fingerprint)
        fingerprint["weights_probe_id"] = cache.weights_identity(base, probe) if cache is not None else probe_id(probe)
    return fingerprint
