"""Rolling log-likelihood from window scores: each document's windows summed in window order
(a fixed order gives exact, reproducible sums), yielded as soon as a document is complete.
Shared by the vLLM and OpenAI-compatible backends."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from jlce.backend import BatchOutput
from jlce.events import BatchEvent
from jlce.budget import Truncation
from jlce.requests import LoglikelihoodResult

# A batch of window scores, each under its (document, window) key.
WindowBatch = tuple[list[tuple[tuple[int, int], LoglikelihoodResult]], BatchEvent]


def join_windows(batches: Iterable[WindowBatch], windows: Sequence[Sequence]) -> Iterator[BatchOutput]:
    """`batches` answer (document, window) keys; `windows[doc]` lists a document's windows."""
    parts: dict[int, dict[int, LoglikelihoodResult]] = {doc: {} for doc in range(len(windows))}
    ready: list[tuple[int, LoglikelihoodResult]] = [(doc, LoglikelihoodResult(0.0, True, 0, Truncation(0))) for doc, w in enumerate(windows) if not w]
    for answers, event in batches:
        for (doc, w), result in answers:
            parts[doc][w] = result
            if len(parts[doc]) == len(windows[doc]):
                ordered = [parts[doc][i] for i in range(len(windows[doc]))]
                n_tokens = sum(r.n_tokens for r in ordered)  # windows score every token: nothing is cut
                ready.append((doc, LoglikelihoodResult(float(sum(r.logprob for r in ordered)),
                                                       all(r.is_greedy for r in ordered), n_tokens, Truncation(n_tokens))))
        if ready:
            yield ready, BatchEvent(kind="loglikelihood_rolling", size=len(ready), seconds=event.seconds,
                                    prompt_tokens=event.prompt_tokens, batch_size=event.batch_size,
                                    extra={**event.extra, "windows": event.size})
            ready = []
    if ready:
        yield ready, BatchEvent(kind="loglikelihood_rolling", size=len(ready), seconds=0.0)
