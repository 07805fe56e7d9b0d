"""Reasoning models (DeepSeek-R1 and its distills, QwQ, ...): the one implementation every backend
shares. Detection, the generation budget, where the reasoning ends and the answer begins, the
task's stop sequences applied to the answer only, and what thinking cost.

An R1 answer is `<think>\\n...\\n</think>\\n\\nANSWER`. A task's stop sequences (often a blank line)
would end the reasoning early, so with reasoning on the core sends each generation request with
no stops and a raised budget (`ReasoningPolicy.engine_request`), and applies the stops afterwards
to the answer part (`truncate_answer`): the answer starts after the `</think>` that closes the
reasoning, and its leading whitespace is never a stop. Metrics see the answer only; the sample
log keeps the whole text.

Tags are matched in any case (`<think>`, `<THINK>`). Blocks nest (the reasoning ends where the
depth returns to zero). A `</think>` with no `<think>` before it means the prompt opened the block
(R1 chat templates end with `<think>\\n`); backends also report that from the rendered prompt
(`GenerateResult.opened_think`), which is the only way to know that a response with no tag at all
is reasoning cut off by the budget.

DeepSeek's usage notes for R1 models: no system prompt (JLCE sends one user turn), the chat
template opens the `<think>` block itself, sampling at temperature 0.6 / top-p 0.95
(`R1_RECOMMENDED_SAMPLING`), up to 32,768 generated tokens.
"""

from __future__ import annotations

import dataclasses
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from jlce.errors import UserError
from jlce.requests import ChatRequest, GenerateRequest, GenerateResult

_Generation = TypeVar("_Generation", GenerateRequest, ChatRequest)

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
DEFAULT_REASONING_TOKENS = 8192
R1_RECOMMENDED_SAMPLING = {"temperature": 0.6, "top_p": 0.95}
REASONING_MODES = ("auto", "on", "off")

_TAG = re.compile(r"<(/?)think>", re.IGNORECASE)
_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_OPEN = re.compile(r"<think>", re.IGNORECASE)
_CLOSE = re.compile(r"</think>", re.IGNORECASE)

# Name parts of reasoning models: DeepSeek-R1(-Distill-*), QwQ, *-Thinking, *-Reasoning.
_REASONING_NAME = re.compile(r"(?:^|[-_.])(?:r1|qwq|reasoning|reasoner|think(?:ing)?)(?:[-_.]|$)", re.IGNORECASE)

State = Literal["none", "closed", "unclosed"]


def is_reasoning_model(*names: str | None) -> bool:
    """True when the last path component of any name marks a reasoning model."""
    return any(_REASONING_NAME.search(str(n).rstrip("/").rsplit("/", 1)[-1]) for n in names if n)


def prompt_opens_think(rendered_prompt: str) -> bool:
    """True when the prompt ends inside an open `<think>` block (R1 chat templates add one)."""
    depth = 0
    for match in _TAG.finditer(rendered_prompt):
        depth = max(0, depth + (-1 if match.group(1) else 1))
    return depth > 0


# ---- where the answer begins ------------------------------------------------------------------


@dataclass(frozen=True)
class ReasoningSplit:
    """A response cut into reasoning and answer.

    state: "none" (no reasoning: the whole text is the answer), "closed" (the answer follows the
    closing tag), "unclosed" (the response ended inside the reasoning: there is no answer).
    `answer_start` indexes the response; None when unclosed. `reasoning` is the text inside the
    block, tags removed."""

    state: State
    reasoning: str
    answer: str
    answer_start: int | None


def _lone_close(text: str) -> bool:
    depth = 0
    for match in _TAG.finditer(text):
        depth += -1 if match.group(1) else 1
        if depth < 0:
            return True
    return False


def split_reasoning(text: str, opened: bool = False) -> ReasoningSplit:
    """Split a response: `opened` when the prompt left a `<think>` block open. Without it the block
    counts as opened when the text closes more blocks than it opened (a lone `</think>`)."""
    starts_open = text.lstrip()[: len(THINK_OPEN)].lower() == THINK_OPEN
    lone_close = _lone_close(text)
    if not opened and not starts_open and not lone_close:
        return ReasoningSplit("none", "", text, 0)
    # a response that starts with `<think>` after a prompt that opened one repeats that opening,
    # unless it closes more blocks than it opens
    depth = 0 if starts_open and not lone_close else 1
    for match in _TAG.finditer(text):
        depth += -1 if match.group(1) else 1
        if depth == 0:
            return ReasoningSplit("closed", _inside(text[: match.start()]), text[match.end():], match.end())
    return ReasoningSplit("unclosed", _inside(text), "", None)


def _inside(region: str) -> str:
    """Reasoning text without its outermost opening tag (nested tags stay as written)."""
    stripped = region.lstrip()
    if stripped[: len(THINK_OPEN)].lower() == THINK_OPEN:
        return stripped[len(THINK_OPEN):]
    return region


def strip_reasoning(text: str, opened: bool = False) -> str:
    """The answer without reasoning: empty when the reasoning never closed; complete blocks and a
    dangling `<think>...` inside the answer removed too; surrounding whitespace stripped."""
    split = split_reasoning(text, opened)
    if split.state == "unclosed":
        return ""
    answer = _THINK_BLOCK.sub("", split.answer)
    closes = list(_CLOSE.finditer(answer))
    if closes:
        answer = answer[closes[-1].end():]
    dangling = _OPEN.search(answer)
    if dangling:
        answer = answer[: dangling.start()]
    return answer.strip()


def plain_truncate(text: str, until: Sequence[str]) -> tuple[str, bool]:
    """The text before its earliest stop sequence, and whether one occurred."""
    cut = min((at for at in (text.find(s) for s in until if s) if at >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def truncate_answer(text: str, until: Sequence[str], opened: bool = False) -> tuple[str, bool]:
    """Apply stop sequences to the answer part only; the reasoning is kept whole and the
    answer's leading whitespace (R1's blank line after `</think>`) is not a stop.
    Returns (text up to the stop, whether a stop sequence was found)."""
    split = split_reasoning(text, opened)
    if split.answer_start is None:
        return text, False
    answer = split.answer
    lead = len(answer) - len(answer.lstrip())
    body, stopped = plain_truncate(answer[lead:], until)
    return text[: split.answer_start + lead] + body, stopped


# ---- per-sample facts and per-task cost -------------------------------------------------------


def reasoning_stats(text: str, opened: bool = False, finish_reason: str = "stop", n_tokens: int | None = None,
                    thinking_tokens: int | None = None) -> dict[str, Any]:
    """Per-sample reasoning facts for samples/*.jsonl. `thinking_tokens`: tokens of the response up
    to and including the closing tag (counted by the model's tokenizer; None when it cannot be);
    `answer_tokens` is the rest of the generated tokens. `budget_hit_in_think`: the token budget
    ran out before the reasoning closed (finish reason `length`, no closed block)."""
    split = split_reasoning(text, opened)
    if split.state == "unclosed":
        thinking_tokens = n_tokens
    elif split.state == "none":
        thinking_tokens = 0
    answer_tokens = (max(0, n_tokens - thinking_tokens)
                     if n_tokens is not None and thinking_tokens is not None else None)
    return {
        "state": split.state,
        "opened_by_prompt": bool(opened),
        "reasoning_chars": len(split.reasoning.strip()),
        "answer_chars": len(split.answer.strip()),
        "thinking_tokens": thinking_tokens,
        "answer_tokens": answer_tokens,
        "budget_hit_in_think": finish_reason == "length" and split.state == "unclosed",
    }


def _spread(values: list[int]) -> dict[str, float | int] | None:
    if not values:
        return None
    return {"mean": statistics.fmean(values), "median": statistics.median(values), "total": sum(values)}


def reasoning_summary(results: Sequence[GenerateResult]) -> dict[str, Any] | None:
    """What thinking cost on one task: the share of outputs that hit the token budget inside
    `<think>`, and mean/median thinking and answer tokens. None without reasoning statistics."""
    stats = [r.reasoning for r in results if isinstance(r, GenerateResult) and r.reasoning]
    if not stats:
        return None
    n = len(stats)
    states = {state: sum(s["state"] == state for s in stats) for state in ("closed", "unclosed", "none")}
    hit = sum(bool(s["budget_hit_in_think"]) for s in stats)
    thinking = [s["thinking_tokens"] for s in stats if s["thinking_tokens"] is not None]
    answer = [s["answer_tokens"] for s in stats if s["answer_tokens"] is not None]
    return {
        "outputs": n,
        "closed": states["closed"],
        "unclosed": states["unclosed"],
        "no_reasoning": states["none"],
        "budget_hit_in_think": hit,
        "budget_hit_in_think_share": hit / n,
        "tokens_counted": len(thinking),
        "thinking_tokens": _spread(thinking),
        "answer_tokens": _spread(answer),
    }


# ---- the run's policy -------------------------------------------------------------------------


def parse_mode(value: Any, flag: str = "--reasoning") -> str:
    """auto | on | off (true/false, yes/no, 1/0 accepted)."""
    text = "auto" if value is None else str(value).strip().lower()
    if text == "auto":
        return "auto"
    if text in ("on", "1", "true", "yes"):
        return "on"
    if text in ("off", "0", "false", "no"):
        return "off"
    raise UserError(f"{flag} must be auto, on or off, not '{value}'")


@dataclass(frozen=True)
class ReasoningPolicy:
    """How a run generates for a reasoning model. `max_new_tokens` is the run's explicit budget
    (`--reasoning-max-new-tokens`); without it each task's `reasoning_max_new_tokens`, else
    DEFAULT_REASONING_TOKENS, is used."""

    mode: str = "off"
    enabled: bool = False
    max_new_tokens: int | None = None
    detected_from: tuple[str, ...] = ()

    def budget(self, requested: int, task_budget: int | None = None) -> int:
        """Tokens to allow a request: its own budget, raised to the reasoning budget when on."""
        if not self.enabled or requested <= 0:
            return requested
        reasoning = self.max_new_tokens or task_budget or DEFAULT_REASONING_TOKENS
        return max(requested, reasoning)

    def engine_request(self, request: _Generation, task_budget: int | None = None) -> _Generation:
        """What the backend is asked: no stop sequences (they are applied to the answer
        afterwards) and the raised budget. Unchanged when reasoning is off."""
        if not self.enabled:
            return request
        params = dataclasses.replace(request.params, until=(), max_new_tokens=self.budget(request.params.max_new_tokens, task_budget))
        return dataclasses.replace(request, params=params)

    def finish(self, request: GenerateRequest, result: GenerateResult, thinking_tokens: int | None = None) -> GenerateResult:
        """The backend's answer to `engine_request(request)` with the task's stops applied to the
        answer part, the answer itself and the reasoning statistics. Unchanged when off."""
        if not self.enabled:
            return result
        text, stopped = truncate_answer(result.text, request.params.until, result.opened_think)
        finish = "stop" if stopped else result.finish_reason
        split = split_reasoning(text, result.opened_think)
        stats = reasoning_stats(text, result.opened_think, result.finish_reason, result.n_tokens, thinking_tokens)
        return dataclasses.replace(result, text=text, finish_reason=finish, answer=split.answer, reasoning=stats)

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "enabled": self.enabled, "max_new_tokens": self.max_new_tokens,
                "default_max_new_tokens": DEFAULT_REASONING_TOKENS, "detected_from": list(self.detected_from)}


def resolve_policy(mode: Any, max_new_tokens: int | None, *names: str | None) -> ReasoningPolicy:
    """The run's policy: `auto` turns reasoning on when one of the model's names marks a
    reasoning model (DeepSeek-R1 and distills, QwQ, *-Thinking, *-Reasoning)."""
    mode = parse_mode(mode)
    if max_new_tokens is not None and (isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int)
                                       or max_new_tokens < 1):
        raise UserError(f"--reasoning-max-new-tokens must be a positive integer, not '{max_new_tokens}'")
    matched = tuple(dict.fromkeys(str(n) for n in names if n and is_reasoning_model(n)))
    enabled = mode == "on" or (mode == "auto" and bool(matched))
    return ReasoningPolicy(mode, enabled, max_new_tokens, matched if mode == "auto" else ())


def reasoning_token_counts(texts: Sequence[tuple[str, bool]], count_tokens: Callable[[list[str]], list[int]]) -> list[int | None]:
    """Tokens of each response's reasoning (up to and including the closing tag), by the model's
    tokenizer; None for each when the backend cannot count tokens."""
    regions = []
    for text, opened in texts:
        split = split_reasoning(text, opened)
        regions.append(text[: split.answer_start] if split.state == "closed" else "")
    wanted = [region for region in regions if region]
    if not wanted:
        return [0 if not region else None for region in regions]
    try:
        counted = iter(count_tokens(wanted))
    except UserError:  # UnsupportedRequest: an API without a local tokenizer
        return [None] * len(regions)
    return [next(counted) if region else 0 for region in regions]


# ---- the evaluator's two steps ----------------------------------------------------------------


def task_reasoning_budget(task: Any) -> int | None:
    """The task's `generation.reasoning_max_new_tokens` (None when it sets none)."""
    generation = getattr(getattr(task, "config", None), "generation", None)
    return getattr(generation, "reasoning_max_new_tokens", None)


def sent_request(policy: ReasoningPolicy, request: Any, task_budget: int | None) -> Any:
    """The request as the backend (and the request cache) sees it."""
    return policy.engine_request(request, task_budget) if isinstance(request, GenerateRequest) else request


def finish_answers(policy: ReasoningPolicy, tasks: Sequence[Any], answers: dict[str, list[list[Any]]],
                   count_tokens: Callable[[list[str]], list[int]]) -> None:
    """Replace each generation answer of `answers[task][instance][request]` by its finished form
    (`ReasoningPolicy.finish`), thinking tokens counted in one call. Nothing when reasoning is off."""
    if not policy.enabled:
        return
    places = [(task.name, i, j, request, answers[task.name][i][j])
              for task in tasks for i, instance in enumerate(task.instances)
              for j, request in enumerate(instance.requests)
              if isinstance(request, GenerateRequest) and isinstance(answers[task.name][i][j], GenerateResult)]
    counts = reasoning_token_counts([(result.text, result.opened_think) for *_, result in places], count_tokens)
    for (name, i, j, request, result), thinking in zip(places, counts):
        answers[name][i][j] = policy.finish(request, result, thinking)


LEGACY_BACKEND_ARGS = ("reasoning", "reasoning_max_new_tokens")


def reject_backend_args(options: dict[str, Any], backend: str) -> None:
    """Reasoning is a run option now: `jlce run` moves `--backend-arg reasoning=...` there
    (jlce.runconfig); a backend built directly with it is told where it went."""
    for key in LEGACY_BACKEND_ARGS:
        if key in options:
            flag = "--" + key.replace("_", "-")
            raise UserError(f"'{key}' is no longer a {backend} backend option: reasoning is handled by the core "
                            f"for every backend (`jlce run {flag} ...`, RunOptions.{key})")


def answer_text(result: GenerateResult) -> str:
    """The text a task's filters read: the answer the core finished (reasoning on), else the
    response past any leading reasoning ("" when it never closed; the whole text of a model that
    does not think)."""
    if result.answer is not None:
        return result.answer
    return split_reasoning(result.text, opened=result.opened_think).answer


def generation_facts(result: GenerateResult) -> dict[str, Any]:
    """What a sample line records of a generation besides its text: the finish reason and, with
    reasoning on, the reasoning statistics."""
    facts: dict[str, Any] = {"finish_reason": result.finish_reason}
    if result.reasoning is not None:
        facts["reasoning"] = result.reasoning
    return facts
