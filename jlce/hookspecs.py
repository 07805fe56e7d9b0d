"""Every JLCE hook. Implement them with `@jlce.hookimpl` in a module exposed under the `jlce`
entry-point group.

Registration hooks receive a `register` callback; the core validates what it is handed (type,
duplicate names) and names the offending plugin. Lifecycle hooks observe a run: an exception in
one is logged and recorded in the results (`errors`), and the run goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

from jlce.events import BatchEvent, RunContext, StageEvent
from jlce.modelalias import ModelAliasSpec
from jlce.specs import BackendSpec, FilterSpec, LoggerSpec, MetricSpec, ProcessorSpec, ProfilerSpec, ReaderSpec

hookspec = pluggy.HookspecMarker("jlce")
hookimpl = pluggy.HookimplMarker("jlce")  # re-exported by jlce.plugin, the import plugin authors use


# ---- registration -------------------------------------------------------------------------


@hookspec
def jlce_register_backends(register: Callable[[BackendSpec], None]) -> None:
    """Register model backends (`--backend NAME`)."""


@hookspec
def jlce_register_metrics(register: Callable[[MetricSpec], None]) -> None:
    """Register metrics that task YAML files name under `metrics:`."""


@hookspec
def jlce_register_filters(register: Callable[[FilterSpec], None]) -> None:
    """Register answer-extraction filters that task YAML files name under `filters:`."""


@hookspec
def jlce_register_readers(register: Callable[[ReaderSpec], None]) -> None:
    """Register data file formats that task YAML files name under `dataset.format`."""


@hookspec
def jlce_register_processors(register: Callable[[ProcessorSpec], None]) -> None:
    """Register document processors that task YAML files name under `dataset.process`."""


@hookspec
def jlce_register_task_dirs(register: Callable[[Any], None]) -> None:
    """Register directories of task and group YAML files (call `register(path)`)."""


@hookspec
def jlce_register_profilers(register: Callable[[ProfilerSpec], None]) -> None:
    """Register profilers (`--profile NAME,...`)."""


@hookspec
def jlce_register_presets(register: Callable[[Any], None]) -> None:
    """Register model-family presets (`jlce.presets.PresetSpec`): default decoding settings for the
    models a preset matches, chosen by `--preset auto|NAME|none`."""


@hookspec
def jlce_register_model_aliases(register: Callable[[ModelAliasSpec], None]) -> None:
    """Register model aliases (`jlce.modelalias.ModelAliasSpec`): short names `--model` accepts,
    standing for a hub id or for a model the alias builds locally; `jlce ls models` lists them."""


@hookspec
def jlce_register_loggers(register: Callable[[LoggerSpec], None]) -> None:
    """Register experiment trackers (`--log NAME`, `jlce log RUN_DIR --to NAME`); see docs/tracking.md."""


@hookspec
def jlce_register_commands(cli: Any) -> None:
    """Add commands to the `jlce` command line: `cli` is its click group (`@cli.command()`). Called
    only when a command name is not built in (or by `jlce ls commands`), so plugins cost the
    built-in commands nothing; a plugin that raises here, or replaces a built-in command, is
    reported by name and its commands are left out."""


# ---- run lifecycle (observers; failures are recorded, never fatal) ---------------------------


@hookspec
def jlce_run_start(run: RunContext) -> None:
    """A run begins: configuration known, nothing loaded yet."""


@hookspec
def jlce_stage_start(run: RunContext, event: StageEvent) -> None:
    """A stage of the run begins (data_load, build_requests, model_load, inference:KIND, scoring, writing)."""


@hookspec
def jlce_stage_end(run: RunContext, event: StageEvent) -> None:
    """A stage ends; `event.seconds` holds its wall time."""


@hookspec
def jlce_model_loaded(run: RunContext) -> None:
    """The backend is ready in `run.backend`."""


@hookspec
def jlce_after_batch(run: RunContext, event: BatchEvent) -> None:
    """A backend finished one batch of requests (cached answers do not fire this)."""


@hookspec
def jlce_run_end(run: RunContext) -> dict | None:
    """The run's work is done. Return a mapping merged into `results.json`
    (for example `{"profile": {"timing": {...}}}` or `{"provenance": {...}}`), or None."""
