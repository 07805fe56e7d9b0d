"""Switching registered profilers on for one run and off again.

The evaluator's whole part:

    active = start_profilers(pm, registry, names=args.profile, options=profile_options, run=run)
    try:
        notify(pm, run, "jlce_run_start")
        ...                                   # stages, batches, jlce_model_loaded ...
        results.update(merge_sections(notify(pm, run, "jlce_run_end")))
    finally:
        stop_profilers(pm, active, run=run)   # stops sampler threads on every path

Each profiler is a `ProfilerSpec` whose factory builds a fresh object per run; its `@hookimpl`
methods are the lifecycle hooks. It is registered as plugin `profiler:<name>` for the run only.
A profiler that fails to build is recorded in `run.errors` and left out; the run goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from jlce.errors import UserError
from jlce.specs import resolve

log = logging.getLogger(__name__)

PLUGIN_PREFIX = "profiler:"


def select_profilers(registry: Any, names: str | Sequence[str] | None = None) -> list[str]:
    """Profiler names for `--profile`: None or "default" -> those registered with `default=True`;
    "none" or "" -> none; "all" -> every one; "a,b" or ["a", "b"] -> those (unknown names are a UserError)."""
    table: Mapping[str, Any] = registry.profilers
    if names is None:
        names = "default"
    if isinstance(names, str):
        names = [names]
    # provenance is no profiler: every run records it, so naming it selects nothing extra
    wanted = [part.strip() for name in names for part in name.split(",") if part.strip() and part.strip() != "provenance"]
    if not wanted and any("provenance" in name for name in names):
        return []
    if wanted in ([], ["none"]):
        return []
    if wanted == ["default"]:
        return [name for name, spec in table.items() if spec.default]
    if wanted == ["all"]:
        return list(table)
    for name in wanted:
        if name in ("none", "all", "default"):
            raise UserError(f"--profile: '{name}' cannot be combined with profiler names")
        registry.get("profilers", name)  # UserError with a suggestion when unknown
    return list(dict.fromkeys(wanted))


def profiler_options(options: Mapping[str, Any] | None, name: str) -> dict[str, Any]:
    """Options for one profiler: the shared flat keys, overridden by `options[name]` when that is a mapping."""
    options = dict(options or {})
    own = options.pop(name, None)
    shared = {key: value for key, value in options.items() if not isinstance(value, Mapping)}
    return {**shared, **(dict(own) if isinstance(own, Mapping) else {})}


def start_profilers(pm: Any, registry: Any, names: str | Sequence[str] | None = None,
                    options: Mapping[str, Any] | None = None, run: Any = None) -> list[Any]:
    """Build the selected profilers and register them with `pm` as `profiler:<name>`; return them.

    A factory that raises `UserError` (a bad option) propagates; any other failure is logged and
    recorded in `run.errors` (when `run` is given) and that profiler is skipped."""
    started: list[Any] = []
    for name in select_profilers(registry, names):
        spec = registry.get("profilers", name)
        plugin_name = PLUGIN_PREFIX + name
        try:
            instance = resolve(spec.factory)(profiler_options(options, name))
            if pm.has_plugin(plugin_name):  # left over from a run that was not stopped
                pm.unregister(name=plugin_name)
            pm.register(instance, name=plugin_name)
        except UserError:
            stop_profilers(pm, started, run)
            raise
        except Exception as error:
            log.warning("profiler %s could not start: %s", name, error)
            if run is not None:
                run.record_error(plugin_name, "start", error)
            continue
        started.append(instance)
    return started


def stop_profilers(pm: Any, instances: Iterable[Any], run: Any = None) -> None:
    """Call each profiler's `close()` (stops threads, releases device libraries) and unregister it.
    Safe after `jlce_run_end`, after a failure, and when called twice."""
    for instance in instances:
        close = getattr(instance, "close", None)
        if callable(close):
            try:
                close()
            except Exception as error:
                name = pm.get_name(instance) or type(instance).__name__
                log.warning("profiler %s failed to close: %s", name, error)
                if run is not None:
                    run.record_error(name, "close", error)
        if pm.is_registered(instance):
            pm.unregister(instance)


def merge_sections(answers: Iterable[Mapping[str, Any] | None]) -> dict[str, Any]:
    """Merge `jlce_run_end` answers: `[{"profile": {"timing": ...}}, {"profile": {"memory": ...}}, {"provenance": ...}]`
    -> `{"profile": {"timing": ..., "memory": ...}, "provenance": ...}` (mappings merged one level deep)."""
    merged: dict[str, Any] = {}
    for answer in answers:
        for key, value in (answer or {}).items():
            if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = dict(value) if isinstance(value, Mapping) else value
    return merged
