"""The plugin manager: built-ins and entry-point plugins loaded through one pluggy manager.

Environment:
- `JLCE_DISABLE_PLUGINS=a,b` never imports those plugins (built-in short names or entry-point names).
- `JLCE_LOAD_PLUGINS=a,b` imports only those entry-point plugins (built-ins still load unless disabled);
  set it empty to load no third-party plugin.
- `JLCE_TRACE_HOOKS=1` prints every hook call to stderr.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from importlib.metadata import entry_points
from typing import Any

import pluggy

from jlce import hookspecs
from jlce.errors import PluginError, did_you_mean
from jlce.hookcall import call_observers, guard_plugin

log = logging.getLogger(__name__)

hookimpl = hookspecs.hookimpl

ENTRY_POINT_GROUP = "jlce"

# Built-in plugins: short name -> module. They go through the same manager as third-party ones.
DEFAULT_PLUGINS: tuple[tuple[str, str], ...] = (
    ("core", "jlce.builtin"),
    ("transformers", "jlce.backends.transformers.plugin"),
    ("vllm", "jlce.backends.vllm.plugin"),
    ("openai", "jlce.backends.openai.plugin"),
    ("timing", "jlce.plugins.timing"),
    ("memory", "jlce.plugins.memory"),
    ("kvcache", "jlce.plugins.kvcache"),
    ("energy", "jlce.plugins.energy"),
    ("tokenizer_stats", "jlce.plugins.tokenizer_stats"),
    ("dummy", "jlce.backends.dummy.plugin"),
    ("mlflow", "jlce.plugins.loggers.mlflow_logger"),
    ("wandb", "jlce.plugins.loggers.wandb_logger"),
)
# Provenance is no plugin: the evaluator records it in every run (jlce.plugins.provenance).


def _names(variable: str) -> set[str] | None:
    value = os.environ.get(variable)
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def _available_builtins() -> tuple[tuple[str, str], ...]:
    """Built-ins whose module is installed (vLLM's plugin module is light; vllm itself may be absent)."""
    import importlib.util

    return tuple((name, module) for name, module in DEFAULT_PLUGINS if importlib.util.find_spec(module) is not None)


class JLCEPluginManager(pluggy.PluginManager):
    """pluggy's manager; every implementation registered is guarded (`jlce.hookcall`) so that hook
    calls through `pm.hook.*` name the plugin that failed, and once loading is complete a plugin
    registered later (a profiler for one run) is checked for unknown hook names at once."""

    def __init__(self) -> None:
        super().__init__("jlce")
        self.add_hookspecs(hookspecs)
        self.loaded = False

    def register(self, plugin: object, name: str | None = None) -> str | None:
        label = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        try:
            registered = super().register(plugin, name)
        except pluggy.PluginValidationError as error:
            raise PluginError(f"plugin '{label}' has an invalid hook implementation: {error}") from error
        if registered is None:  # blocked
            return None
        guard_plugin(self, plugin)
        if self.loaded:
            try:
                check_hook_names(self, plugin)
            except PluginError:
                self.unregister(plugin)
                raise
        return registered


def check_hook_names(pm: pluggy.PluginManager, plugin: object | None = None) -> None:
    """Fail, with a suggestion, on an implementation whose name matches no hook (a typo such as
    `jlce_register_metric`); pluggy's `check_pending` with a "did you mean"."""
    callers = vars(pm.hook)
    known = [name for name, caller in callers.items() if caller.has_spec()]
    for name, caller in callers.items():
        if caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            if impl.optionalhook or (plugin is not None and impl.plugin is not plugin):
                continue
            raise PluginError(f"plugin '{impl.plugin_name}' implements unknown hook '{name}'{did_you_mean(name, known)}; "
                              "the hooks are listed in docs/plugins.md")


def make_plugin_manager() -> JLCEPluginManager:
    """A manager with built-ins and entry-point plugins loaded, honouring the allow/block lists
    before any plugin module is imported."""
    pm = JLCEPluginManager()
    disabled = _names("JLCE_DISABLE_PLUGINS") or set()
    allowed = _names("JLCE_LOAD_PLUGINS")

    for name, module_name in _available_builtins():
        if name in disabled:
            continue
        module = importlib.import_module(module_name)
        pm.register(module, name=name)

    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name in disabled or (allowed is not None and entry_point.name not in allowed):
            continue
        if pm.has_plugin(entry_point.name):
            raise PluginError(f"plugin name '{entry_point.name}' is used twice ({entry_point.value})")
        try:
            plugin = entry_point.load()
        except Exception as error:  # a broken third-party package must name itself
            raise PluginError(f"plugin '{entry_point.name}' ({entry_point.value}) failed to import: {error}") from error
        pm.register(plugin, name=entry_point.name)

    check_hook_names(pm)
    pm.loaded = True

    if os.environ.get("JLCE_TRACE_HOOKS"):
        pm.trace.root.setwriter(sys.stderr.write)
        pm.enable_tracing()
    return pm


_manager: pluggy.PluginManager | None = None


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide manager, created on first use."""
    global _manager
    if _manager is None:
        _manager = make_plugin_manager()
    return _manager


def reset_plugin_manager() -> None:
    """Forget the manager, and so the registry built from it (tests; after installing a plugin
    package). jlce.registry notices the new manager: this module never imports the registry."""
    global _manager
    _manager = None


def plugin_name(pm: pluggy.PluginManager, plugin: Any) -> str:
    return str(pm.get_name(plugin) or getattr(plugin, "__name__", repr(plugin)))


def notify(pm: pluggy.PluginManager, run: Any, hook_name: str, **kwargs: Any) -> list[Any]:
    """Call an observer hook through pluggy. A plugin that raises is logged and recorded in
    `run.errors` while the others, and the run, go on. Returns the non-None answers."""
    return [answer for _, answer in call_observers(pm, run, hook_name, **kwargs)]


def contributions(pm: pluggy.PluginManager, run: Any, hook_name: str = "jlce_run_end") -> list[tuple[str, Any]]:
    """Like `notify`, with each answer paired with the name of the plugin that gave it."""
    return call_observers(pm, run, hook_name)
