"""What plugins register: typed, frozen specs that the registry validates.

Factories may be given as `"module:attribute"` strings so that listing is instant and heavy
libraries (torch, vllm) are imported only when the thing is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def resolve(target: Callable | str) -> Callable:
    """Import a `"module:attribute"` reference, or return a callable unchanged."""
    if callable(target):
        return target
    module_name, _, attribute = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class BackendSpec:
    """A model backend. `factory(BackendConfig) -> Backend`.

    `options`: the backend's options model (a pydantic model, or a `"module:Class"` string) that
    parses its `--backend-arg KEY=VALUE` pairs once, before any data or model loads
    (`jlce.backend.parse_backend_options`); the backend receives the parsed model in
    `BackendConfig.options`. None: the pairs arrive as given (text from the command line)."""

    name: str
    factory: Callable | str
    description: str = ""
    plugin: str = ""
    options: type | str | None = None


@dataclass(frozen=True)
class MetricSpec:
    """A metric. `fn(samples: Sequence[SampleView], **args) -> MetricResult`.

    `corpus=True` means the value is not the mean of per-item scores (BLEU, macro-F1,
    correlations): its interval then comes from a bootstrap over items.
    """

    name: str
    fn: Callable | str
    higher_is_better: bool = True
    corpus: bool = False
    description: str = ""
    plugin: str = ""


@dataclass(frozen=True)
class FilterSpec:
    """An answer-extraction filter. `fn(text: str, **args) -> str`."""

    name: str
    fn: Callable | str
    description: str = ""
    plugin: str = ""


@dataclass(frozen=True)
class ReaderSpec:
    """A data file format. `fn(paths: list[Path], **args) -> list[dict]` (one dict per document)."""

    name: str
    fn: Callable | str
    description: str = ""
    plugin: str = ""


@dataclass(frozen=True)
class ProcessorSpec:
    """A named document transform a task refers to. `fn(docs: list[dict], **args) -> list[dict]`."""

    name: str
    fn: Callable | str
    description: str = ""
    plugin: str = ""


@dataclass(frozen=True)
class TaskDirSpec:
    """A directory of task and group YAML files."""

    path: Path
    plugin: str = ""


@dataclass(frozen=True)
class ProfilerSpec:
    """A profiler. `factory(options: dict) -> object` whose methods implement the lifecycle hooks."""

    name: str
    factory: Callable | str
    description: str = ""
    default: bool = True
    plugin: str = ""


@dataclass(frozen=True)
class LoggerSpec:
    """An experiment tracker (`--log NAME`, `jlce log RUN_DIR --to NAME`).

    `factory(options: dict[str, str]) -> object` with `log(payload: jlce.tracking.TrackedRun) -> dict`
    (a reference to the logged run). `options` names the `--log-arg` keys it accepts; `extra` is
    the pip extra that installs its library (named in the error when it is missing).
    """

    name: str
    factory: Callable | str
    description: str = ""
    options: tuple[str, ...] = ()
    extra: str = ""
    plugin: str = ""


@dataclass(frozen=True)
class MetricResult:
    """A metric's value, its per-item scores when it has them, and facts needed to read it."""

    value: float
    per_item: list[float] | None = None
    info: dict = field(default_factory=dict)
