"""Driving a `vllm.LLM` engine request by request, the way `LLM.generate` does internally
(`add_request` + `step`), so that finished answers can be handed out (and cached) while the
engine keeps its batches full, and follow-up requests can be added as earlier ones finish.

Also reads prompt log-probs: the log-prob and rank of each continuation token, with a check that
the rows needed were computed and not taken from vLLM's prefix cache (rows of cached positions
hold no log-probs).
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

_request_ids = itertools.count()


class EngineRunner:
    """Submit token prompts to an engine and iterate over finished outputs as they complete."""

    def __init__(self, llm: Any, lora_request: Any = None):
        self.engine = llm.llm_engine
        self.lora_request = lora_request
        self.pending: dict[str, Hashable] = {}  # our request id -> key
        self.internal: dict[str, str] = {}  # vLLM's internal id (ours + a random suffix) -> ours

    def submit(self, key: Hashable, prompt: Sequence[int], params: Any) -> None:
        """Add one request; only its final output is wanted (as `LLM.generate` asks: the default,
        cumulative outputs rebuild a request's output at every step it runs)."""
        from vllm.sampling_params import RequestOutputKind

        params.output_kind = RequestOutputKind.FINAL_ONLY
        request_id = f"jlce-{next(_request_ids)}"
        internal = self.engine.add_request(request_id, {"prompt_token_ids": list(prompt)}, params,
                                           lora_request=self.lora_request)
        self.pending[request_id] = key
        if isinstance(internal, str):
            self.internal[internal] = request_id

    def finished(self) -> Iterator[tuple[Hashable, Any]]:
        """(key, RequestOutput) for each finished request, including ones submitted meanwhile.
        Requests still running when the consumer stops are aborted."""
        try:
            while self.pending:
                if not self.engine.has_unfinished_requests():
                    raise RuntimeError(f"the vLLM engine dropped {len(self.pending)} requests")
                for output in self.engine.step():
                    ours = self.internal.pop(output.request_id, output.request_id) if output.finished else None
                    if ours in self.pending:
                        yield self.pending.pop(ours), output
        finally:
            if self.pending:
                self.engine.abort_request(list(self.pending))
                self.pending.clear()
                self.internal.clear()


@dataclass(frozen=True)
class ContinuationScore:
    logprob: float
    is_greedy: bool
    n_tokens: int


def continuation_score(output: Any, context_length: int, continuation: Sequence[int]) -> ContinuationScore | None:
    """Sum of the continuation tokens' prompt log-probs (positions `context_length`..end) and
    whether each was the argmax (rank 1). None when vLLM served the row before the continuation
    from its prefix cache, which leaves those log-probs uncomputed: score again without it."""
    if (output.num_cached_tokens or 0) > context_length - 1:
        return None
    rows = output.prompt_logprobs
    total, greedy = 0.0, True
    for offset, token in enumerate(continuation):
        entry = rows[context_length + offset]
        if entry is None or token not in entry:
            return None
        logprob = entry[token]
        total += float(logprob.logprob)
        greedy = greedy and logprob.rank == 1
    return ContinuationScore(total, greedy, len(continuation))


def engine_gauge(llm: Any, name: str) -> float | None:
    """A gauge from vLLM's metrics (needs `disable_log_stats=False`), e.g. vllm:kv_cache_usage_perc.

    Read from the Prometheus registry that `LLM.get_metrics()` reads, restricted to `name`:
    `get_metrics()` collects every vLLM metric (histograms included, ~14 ms on a CPU), which read
    once per batch made up a few percent of a scoring run; the one gauge takes microseconds."""
    try:
        from prometheus_client import REGISTRY

        for metric in REGISTRY.restricted_registry([name]).collect():
            for sample in metric.samples:
                if sample.name == name:
                    return float(sample.value)
        for metric in llm.get_metrics():  # not in this process's registry (e.g. multiprocess metrics)
            if metric.name == name and hasattr(metric, "value"):
                return float(metric.value)
    except Exception:  # noqa: BLE001 - metrics are optional: a version without them must not stop a run
        return None
    return None
