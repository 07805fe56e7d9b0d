"""Calling the metrics and filters that plugins register, with blame put where it belongs.

- Before the run (before the model loads), the arguments a task file gives each metric and filter
  are checked against the function's signature: a mismatch is the task file's error
  (`ConfigError` naming the file, the key and what the function takes).
- During scoring, an exception raised inside the function is the plugin's (`PluginError` naming
  the metric or filter and its plugin), and so is an answer of the wrong type.
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable, Sequence
from typing import Any

from jlce.errors import ConfigError, JLCEError, PluginError
from jlce.extras import missing_extra
from jlce.specs import MetricResult, resolve


def _takes(fn: Callable[..., Any]) -> str:
    try:
        parameters = list(inspect.signature(fn).parameters.values())[1:]
    except (TypeError, ValueError):
        return "unknown"
    return ", ".join(str(p) for p in parameters) or "no arguments"


def _check(kind: str, spec: Any, first: Any, args: dict[str, Any], task: Any, key: str) -> None:
    fn = resolve(spec.fn)
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin without a signature: nothing to check
        return
    try:
        signature.bind(first, **args)
    except TypeError as error:
        raise ConfigError(f"{kind} '{spec.name}' (plugin '{spec.plugin}') cannot take {sorted(args) or 'no'} arguments: {error}; "
                          f"it takes: {_takes(fn)}", file=getattr(task, "path", None), key=key) from None


def check_task_arguments(tasks: Sequence[Any], registry: Any) -> None:
    """Check every metric and filter a task names against its function's signature."""
    for task in tasks:
        config = getattr(task, "config", None)
        if config is None:  # a task that scores itself (the lm-eval bridge)
            continue
        for step in getattr(config, "filters", None) or ():
            _check("filter", registry.get("filters", step.name), "", dict(step.args), task, "filters")
        for ref in getattr(config, "metrics", None) or ():
            _check("metric", registry.get("metrics", ref.name), [], dict(ref.args), task, "metrics")


def _blame(kind: str, spec: Any, error: Exception) -> JLCEError:
    if isinstance(error, ModuleNotFoundError):  # an optional dependency the function imports lazily
        extra = missing_extra(error, f"{kind} '{spec.name}'")
        if extra is not None:
            return extra
    return PluginError(f"{kind} '{spec.name}' (plugin '{spec.plugin}') raised {type(error).__name__}: {error}")


def call_metric(spec: Any, fn: Callable[..., Any], views: Sequence[Any], args: dict[str, Any]) -> MetricResult:
    """`fn(views, **args)`, checked to return a `MetricResult` with a number (one per item in `per_item`)."""
    try:
        result = fn(views, **args)
    except JLCEError:
        raise
    except Exception as error:
        raise _blame("metric", spec, error) from error
    where = f"metric '{spec.name}' (plugin '{spec.plugin}')"
    if not isinstance(result, MetricResult):
        raise PluginError(f"{where} returned a {type(result).__name__}; expected jlce.specs.MetricResult(value, per_item, info)")
    if not isinstance(result.value, numbers.Real) or isinstance(result.value, bool):
        raise PluginError(f"{where} returned a value of type {type(result.value).__name__}; expected a number")
    if result.per_item is not None:
        if len(result.per_item) != len(views):
            raise PluginError(f"{where} returned {len(result.per_item)} per-item scores for {len(views)} items")
        bad = next((v for v in result.per_item if not isinstance(v, numbers.Real) or isinstance(v, bool)), None)
        if bad is not None:
            raise PluginError(f"{where} returned a per-item score of type {type(bad).__name__}; expected numbers")
    if not isinstance(result.info, dict):
        raise PluginError(f"{where} returned info of type {type(result.info).__name__}; expected a dict")
    return result


def call_filter(spec: Any, fn: Callable[..., Any], text: str, args: dict[str, Any]) -> str:
    """`fn(text, **args)`, checked to return a string."""
    try:
        result = fn(text, **args)
    except JLCEError:
        raise
    except Exception as error:
        raise _blame("filter", spec, error) from error
    if not isinstance(result, str):
        raise PluginError(f"filter '{spec.name}' (plugin '{spec.plugin}') returned a {type(result).__name__}; expected a string")
    return result
