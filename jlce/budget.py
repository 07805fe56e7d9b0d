"""Token budgets at the context limit, computed one way for every backend.

A model holds `window` positions (its maximum length). Two engine conventions spend them:

- `FORWARD` (the transformers backend): scoring runs one forward pass over
  context + continuation[:-1] (the last token is predicted, never fed), so
  context + continuation <= window + 1 tokens.
- `ENGINE` (vLLM, OpenAI-compatible servers): the scored sequence is the whole prompt and the
  engine must still be allowed one output token, so context + continuation + 1 <= window.

Generation is the same for both: prompt + generated tokens <= window (what vLLM checks and what
Hugging Face `generate` counts), so a prompt of window - 1 tokens still gets one output token, and
every backend keeps the same prompt tokens. The generation budget never eats the prompt: the
prompt is kept whole whenever it fits with one output token, and the budget is capped at what the
window leaves. A prompt that does not fit loses its first tokens (the few-shot examples go first;
the question at the end stays) and gets the one remaining position.

API:
- `fit_generation(prompt_tokens, max_new_tokens, window)` -> `GenerationFit`: `keep` (prompt
  tokens kept, from the end), `max_new_tokens` (the budget granted), `truncation`.
- `fit_scoring(context_tokens, continuation_tokens, window, engine)` -> `ScoringFit`:
  `apply(context, continuation)` cuts token lists, `truncation` says what was cut.
- `fit_pair(context, continuation, window, engine)` -> (context, continuation, truncation): the
  same on token lists, in one call.
- `rolling_window(window, engine)`: continuation tokens per rolling log-likelihood window (each
  window is conditioned on at least one earlier token).
- `Truncation`: what the limit did to one request; backends attach it to their results
  (`jlce.requests`), and `None` there means "not reported" (unknown), never "not cut".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

Engine = Literal["forward", "engine"]
FORWARD: Engine = "forward"
ENGINE: Engine = "engine"


@dataclass(frozen=True)
class Truncation:
    """What the context limit did to one request.

    `prompt_tokens`: tokens of the prompt (a scored request's context) before any cut;
    `prompt_cut`: tokens dropped from its start. `continuation_tokens` / `continuation_cut`: the
    same for a scored continuation (a multiple-choice answer). `requested_new_tokens` /
    `max_new_tokens`: a generation's asked and granted budgets (None for scoring)."""

    prompt_tokens: int
    prompt_cut: int = 0
    continuation_tokens: int = 0
    continuation_cut: int = 0
    requested_new_tokens: int | None = None
    max_new_tokens: int | None = None

    @property
    def cut(self) -> bool:
        """True when any input token was dropped."""
        return self.prompt_cut > 0 or self.continuation_cut > 0

    @property
    def generation_capped(self) -> bool:
        """True when the window left less than the requested generation budget."""
        return (self.requested_new_tokens is not None and self.max_new_tokens is not None
                and self.max_new_tokens < self.requested_new_tokens)

    def to_dict(self) -> dict[str, Any]:
        return {"prompt_tokens": self.prompt_tokens, "prompt_cut": self.prompt_cut,
                "continuation_tokens": self.continuation_tokens, "continuation_cut": self.continuation_cut,
                "requested_new_tokens": self.requested_new_tokens, "max_new_tokens": self.max_new_tokens}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Truncation | None:
        return None if data is None else cls(**data)


@dataclass(frozen=True)
class GenerationFit:
    keep: int  # prompt tokens to send, taken from the end of the prompt
    max_new_tokens: int  # generation budget granted
    truncation: Truncation

    def apply(self, prompt: list[int] | tuple[int, ...]):
        """The prompt tokens to send."""
        return prompt[len(prompt) - self.keep:]


@dataclass(frozen=True)
class ScoringFit:
    keep: int  # tokens kept from the end of context + continuation
    scored: int  # continuation tokens scored (the last ones)
    truncation: Truncation

    def apply(self, context: list[int], continuation: list[int]) -> tuple[list[int], list[int]]:
        """(context, continuation) as the engine receives them. When the continuation alone is
        too long, its dropped part supplies the one conditioning token."""
        sequence = (list(context) + list(continuation))[-self.keep:] if self.keep else []
        split = len(sequence) - self.scored
        return sequence[:split], sequence[split:]


def _check_window(window: int) -> None:
    if window < 2:
        raise ValueError(f"a context window of {window} tokens cannot hold a prompt and one more token")


def fit_generation(prompt_tokens: int, max_new_tokens: int, window: int | None) -> GenerationFit:
    """Prompt tokens kept and generation budget granted: prompt + budget <= window, the prompt
    kept whole when it is at most window - 1 tokens. `window=None` (unknown) changes nothing.
    A budget of 0 sends nothing and cuts nothing."""
    if prompt_tokens < 0 or max_new_tokens < 0:
        raise ValueError("token counts cannot be negative")
    if window is None or max_new_tokens == 0:
        return GenerationFit(prompt_tokens, max_new_tokens,
                             Truncation(prompt_tokens, 0, requested_new_tokens=max_new_tokens, max_new_tokens=max_new_tokens))
    _check_window(window)
    keep = min(prompt_tokens, window - 1)
    granted = min(max_new_tokens, window - keep)
    return GenerationFit(keep, granted, Truncation(prompt_tokens, prompt_tokens - keep, requested_new_tokens=max_new_tokens,
                                                   max_new_tokens=granted))


def scoring_limit(window: int, engine: Engine) -> int:
    """The longest context + continuation (in tokens) one scoring request may have."""
    _check_window(window)
    if engine not in (FORWARD, ENGINE):
        raise ValueError(f"unknown engine convention '{engine}'")
    limit = window + 1 if engine == FORWARD else window - 1
    if limit < 2:
        raise ValueError(f"a context window of {window} tokens cannot score one token after another on '{engine}'")
    return limit


def fit_scoring(context_tokens: int, continuation_tokens: int, window: int | None, engine: Engine) -> ScoringFit:
    """Left-truncate context + continuation to the engine's limit, as lm-evaluation-harness
    does: the context loses its first tokens; a continuation longer than the limit keeps its last
    limit - 1 tokens scored. `window=None` (unknown) changes nothing."""
    if context_tokens < 0 or continuation_tokens < 0:
        raise ValueError("token counts cannot be negative")
    total = context_tokens + continuation_tokens
    keep = total if window is None else min(total, scoring_limit(window, engine))
    scored = min(continuation_tokens, max(0, keep - 1)) if continuation_tokens else 0
    if keep == total and continuation_tokens and context_tokens == 0:
        scored = continuation_tokens  # nothing to condition on was given: score what was given
    context_kept = max(0, keep - continuation_tokens)
    return ScoringFit(keep, scored, Truncation(context_tokens, context_tokens - context_kept, continuation_tokens,
                                               continuation_tokens - scored))


def fit_pair(context: Sequence[int], continuation: Sequence[int], window: int | None,
             engine: Engine) -> tuple[list[int], list[int], Truncation]:
    """`fit_scoring` applied to token lists: (context, continuation, truncation)."""
    fit = fit_scoring(len(context), len(continuation), window, engine)
    ctx, cont = fit.apply(list(context), list(continuation))
    return ctx, cont, fit.truncation


def rolling_window(window: int, engine: Engine) -> int:
    """Continuation tokens per rolling log-likelihood window, each conditioned on >= 1 token."""
    return scoring_limit(window, engine) - 1
