"""The three request kinds a backend serves, and their answers. Frozen, hashable, JSON-able."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal, Union

from jlce.budget import Truncation

RequestKind = Literal["loglikelihood", "loglikelihood_rolling", "generate_until"]


@dataclass(frozen=True)
class LoglikelihoodRequest:
    """log P(continuation | context). Requests sharing a context are scored against one cached prefix."""

    context: str
    continuation: str
    kind: RequestKind = field(default="loglikelihood", init=False)


@dataclass(frozen=True)
class RollingLoglikelihoodRequest:
    """log P(text), the whole text scored in windows of the model's maximum length."""

    text: str
    kind: RequestKind = field(default="loglikelihood_rolling", init=False)


@dataclass(frozen=True)
class GenerationParams:
    """How to generate. Part of the cache key: change any field and the answer is recomputed."""

    until: tuple[str, ...] = ()
    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None


@dataclass(frozen=True)
class GenerateRequest:
    """Generate from `context` until a stop sequence or the token budget."""

    context: str
    params: GenerationParams = GenerationParams()
    kind: RequestKind = field(default="generate_until", init=False)


Request = Union[LoglikelihoodRequest, RollingLoglikelihoodRequest, GenerateRequest]


@dataclass(frozen=True)
class LoglikelihoodResult:
    """Sum of continuation token log-probs; `is_greedy` when every token was the argmax.
    `truncation`: what the context limit cut (`jlce.budget`); None when the backend did not say
    (unknown, not "uncut")."""

    logprob: float
    is_greedy: bool
    n_tokens: int
    truncation: Truncation | None = None


@dataclass(frozen=True)
class GenerateResult:
    """Generated text with stop sequences removed, and how many tokens it took.

    `opened_think`: the rendered prompt left a `<think>` block open (R1 chat templates), so the
    text starts inside the reasoning; backends set it. `answer` and `reasoning` are filled by the
    core when reasoning is on (jlce.reasoning): the text after the reasoning with the task's stops
    applied ("" when the reasoning never closed), and the sample's reasoning statistics."""

    text: str
    n_tokens: int
    finish_reason: str = "stop"  # "stop" | "length"
    truncation: Truncation | None = None  # as on LoglikelihoodResult
    opened_think: bool = False
    answer: str | None = None
    reasoning: dict | None = None


Result = Union[LoglikelihoodResult, GenerateResult]

RESULT_TYPES: dict[str, type] = {
    "loglikelihood": LoglikelihoodResult,
    "loglikelihood_rolling": LoglikelihoodResult,
    "generate_until": GenerateResult,
}


def request_to_dict(request: Request) -> dict:
    return asdict(request)


def result_to_dict(result: Result) -> dict:
    return asdict(result)


def result_from_dict(kind: str, data: dict) -> Result:
    data = dict(data)
    if "truncation" in data:  # answers cached before truncation was reported have none
        data["truncation"] = Truncation.from_dict(data["truncation"])
    return RESULT_TYPES[kind](**data)
