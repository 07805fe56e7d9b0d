"""The registry: what the plugins registered, validated, looked up by name with suggestions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from jlce.errors import PluginError, UserError, did_you_mean
from jlce.modelalias import ModelAliasSpec
from jlce.presets import PresetSpec
from jlce.specs import (
    BackendSpec,
    FilterSpec,
    LoggerSpec,
    MetricSpec,
    ProcessorSpec,
    ProfilerSpec,
    ReaderSpec,
    TaskDirSpec,
)
from jlce.hookcall import current_plugin
from jlce.plugin_manager import get_plugin_manager

# registration hook -> (registry attribute, spec type, human name)
KINDS: dict[str, tuple[str, type[Any], str]] = {
    "jlce_register_backends": ("backends", BackendSpec, "backend"),
    "jlce_register_metrics": ("metrics", MetricSpec, "metric"),
    "jlce_register_filters": ("filters", FilterSpec, "filter"),
    "jlce_register_readers": ("readers", ReaderSpec, "data format"),
    "jlce_register_processors": ("processors", ProcessorSpec, "document processor"),
    "jlce_register_profilers": ("profilers", ProfilerSpec, "profiler"),
    "jlce_register_presets": ("presets", PresetSpec, "preset"),
    "jlce_register_loggers": ("loggers", LoggerSpec, "logger"),
    "jlce_register_model_aliases": ("model_aliases", ModelAliasSpec, "model alias"),
}


@dataclass
class Registry:
    backends: dict[str, BackendSpec] = field(default_factory=dict)
    metrics: dict[str, MetricSpec] = field(default_factory=dict)
    filters: dict[str, FilterSpec] = field(default_factory=dict)
    readers: dict[str, ReaderSpec] = field(default_factory=dict)
    processors: dict[str, ProcessorSpec] = field(default_factory=dict)
    profilers: dict[str, ProfilerSpec] = field(default_factory=dict)
    presets: dict[str, PresetSpec] = field(default_factory=dict)
    loggers: dict[str, LoggerSpec] = field(default_factory=dict)
    model_aliases: dict[str, ModelAliasSpec] = field(default_factory=dict)
    task_dirs: list[TaskDirSpec] = field(default_factory=list)

    def get(self, kind: str, name: str) -> Any:
        """Look up `name` among registered `kind` ("backends", "metrics", ...) or fail with a suggestion."""
        table: dict[str, Any] = getattr(self, kind)
        if name not in table:
            human = next(h for attr, _, h in KINDS.values() if attr == kind)
            known = ", ".join(sorted(table)) or "none"
            raise UserError(f"unknown {human} '{name}'{did_you_mean(name, table)}; known: {known}")
        return table[name]


def _caller(fixed: str | None) -> str:
    return fixed or current_plugin() or "unknown plugin"


def _registrar(registry: Registry, hook: str, plugin: str | None = None) -> Callable[[Any], None]:
    """The `register` callback of one registration hook; it names the calling plugin (`plugin`, or
    the one whose implementation is running)."""
    attribute, spec_type, human = KINDS[hook]
    table: dict[str, Any] = getattr(registry, attribute)
    fixed = plugin

    def register(spec: Any) -> None:
        plugin = _caller(fixed)
        if not isinstance(spec, spec_type):
            raise PluginError(f"plugin '{plugin}' registered a {type(spec).__name__} as a {human}; expected {spec_type.__name__}")
        if not spec.name or not isinstance(spec.name, str):
            raise PluginError(f"plugin '{plugin}' registered a {human} without a name")
        if spec.name in table:
            other = table[spec.name].plugin
            raise PluginError(f"{human} '{spec.name}' registered twice: by plugin '{other}' and by plugin '{plugin}'")
        table[spec.name] = replace(spec, plugin=plugin)

    return register


def _task_dir_registrar(registry: Registry, plugin: str | None = None) -> Callable[[Any], None]:
    fixed = plugin

    def register(path: Any) -> None:
        plugin = _caller(fixed)
        directory = Path(path)
        if not directory.is_dir():
            raise PluginError(f"plugin '{plugin}' registered task directory '{directory}', which does not exist")
        registry.task_dirs.append(TaskDirSpec(path=directory, plugin=plugin))

    return register


def build_registry(pm: Any) -> Registry:
    """Call every registration hook through pluggy (`pm.hook.*`). Each implementation runs guarded
    (`jlce.hookcall`), so the `register` callback knows which plugin calls it and an error names it."""
    registry = Registry()
    for hook in KINDS:
        getattr(pm.hook, hook)(register=_registrar(registry, hook))
    pm.hook.jlce_register_task_dirs(register=_task_dir_registrar(registry))
    return registry


_registry: tuple[Any, Registry] | None = None  # (the manager it was built from, the registry)


def get_registry() -> Registry:
    """The registry of the process-wide plugin manager: built on first use, and again once
    `reset_plugin_manager()` (or `reset_registry()`) has been called."""
    global _registry
    pm = get_plugin_manager()
    if _registry is None or _registry[0] is not pm:
        _registry = (pm, build_registry(pm))
    return _registry[1]


def reset_registry() -> None:
    global _registry
    _registry = None
