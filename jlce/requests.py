"""The request kinds a backend serves, and their answers. Frozen, hashable, JSON-able."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal, Union

from jlce.budget import Truncation

RequestKind = Literal["loglikelihood", "loglikelihood_rolling", "generate_until", "generate_chat"]


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


@dataclass(frozen=True)
class ChatRequest:
    """One turn of a conversation (jlce.multiturn): the user's turns 1..k, the model's own answers
    to turns 1..k-1 (one fewer), an optional system message. Every field is part of the cache
    key, so each turn of each conversation is its own cache entry."""

    turns: tuple[str, ...]
    answers: tuple[str, ...] = ()
    system: str | None = None
    params: GenerationParams = GenerationParams()
    kind: RequestKind = field(default="generate_chat", init=False)

    def __post_init__(self) -> None:
        if not self.turns or len(self.answers) != len(self.turns) - 1:
            raise ValueError(f"a chat request needs k >= 1 user turns and k - 1 answers, not {len(self.turns)} "
                             f"and {len(self.answers)}")

    def messages(self) -> list[dict[str, str]]:
        """The conversation as chat messages: system (when given), then user and assistant in turn,
        ending with the user's last turn."""
        out = [{"role": "system", "content": self.system}] if self.system else []
        for k, turn in enumerate(self.turns):
            out.append({"role": "user", "content": turn})
            if k < len(self.answers):
                out.append({"role": "assistant", "content": self.answers[k]})
        return out


Request = Union[LoglikelihoodRequest, RollingLoglikelihoodRequest, GenerateRequest, ChatRequest]


def generation_params(request: Request) -> GenerationParams:
    """The decoding parameters of a generation or chat request (a scoring request has none)."""
    if not isinstance(request, (GenerateRequest, ChatRequest)):
        raise TypeError(f"a {request.kind} request has no generation parameters")
    return request.params


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


@dataclass(frozen=True)
class ChatResult(GenerateResult):
    """A generation that answers a `ChatRequest`. `prompt`: what the model saw (the chat
    template's output; for a server's chat API, the messages as JSON). `answer` is set by the
    core (jlce.multiturn): the text after the reasoning, stripped, as the next turn receives it."""

    prompt: str | None = None


Result = Union[LoglikelihoodResult, GenerateResult]

RESULT_TYPES: dict[str, type] = {
    "loglikelihood": LoglikelihoodResult,
    "loglikelihood_rolling": LoglikelihoodResult,
    "generate_until": GenerateResult,
    "generate_chat": ChatResult,
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
