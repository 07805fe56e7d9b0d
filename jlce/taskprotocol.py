"""What every kind of task shares, in a module that imports no task code: the `Instance` (one item
and its requests), the `TaskScores` a task's answers turn into, and `SelfScoringTask`, the protocol
of a task that scores its own answers (the lm-eval bridge) instead of going through JLCE's metrics.

`jlce.task` (YAML tasks), `jlce.scoring` and `jlce.lmeval_bridge` all import from here, so none of
them imports another to learn these types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from jlce.requests import Request


@dataclass
class Instance:
    """One item to evaluate: its rendered prompt and the requests that answer it."""

    doc_id: int
    doc: dict[str, Any]
    prompt: str
    target: str
    references: tuple[str, ...]
    requests: list[Request]
    choices: tuple[str, ...] | None = None
    gold: int | None = None
    query: str = ""  # the item's own question: the prompt after the instruction and few-shot examples


@dataclass(frozen=True)
class TaskScores:
    metrics: dict[str, dict[str, Any]]
    samples: list[dict[str, Any]]  # rows of samples/<task>.jsonl
    sampling: dict[str, Any] = field(default_factory=dict)  # k > 1 / generative MC facts (agreement, unparseable)


@runtime_checkable
class SelfScoringTask(Protocol):
    """A task that computes its own scores from its answers (`answers[i]` answer
    `instances[i].requests`, in order)."""

    instances: list[Any]

    def score(self, answers: list[list[Any]]) -> TaskScores: ...
