"""How JLCE calls its hooks: always through pluggy (`pm.hook.<name>(...)`), each implementation
guarded so that an error names its plugin.

Because every call goes through pluggy, wrappers (`@hookimpl(wrapper=True)`, old-style
`hookwrapper=True`), `tryfirst`/`trylast` and tracing (`JLCE_TRACE_HOOKS`) apply as pluggy
documents them. The guard differs by kind of hook:

- observer hooks (their spec takes `run`: `jlce_run_start`, `jlce_after_batch`, ...): an exception
  is logged and recorded in `run.errors` under the plugin's name, and the other implementations
  and the run go on; answers are kept with the name of the plugin that gave them;
- every other hook (registration): an exception stops JLCE with a `PluginError` naming the plugin.

While an implementation runs, `current_plugin()` names it (registration callbacks use this to say
who registered what).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from jlce.errors import PluginError

log = logging.getLogger("jlce.plugins")

_GUARDED = "__jlce_guarded__"


@dataclass
class _Call:
    """One observer-hook call in progress: the run errors go to, and the answers with their plugin."""

    run: Any
    answers: list[tuple[str, Any]] = field(default_factory=list)


_current_plugin: ContextVar[str | None] = ContextVar("jlce_current_plugin", default=None)
_current_call: ContextVar[_Call | None] = ContextVar("jlce_current_call", default=None)


def current_plugin() -> str | None:
    """The plugin whose hook implementation is running now (None outside hook calls)."""
    return _current_plugin.get()


@contextmanager
def _acting_as(plugin: str) -> Iterator[None]:
    token = _current_plugin.set(plugin)
    try:
        yield
    finally:
        _current_plugin.reset(token)


def is_observer(caller: Any) -> bool:
    """Observer hooks receive the run; their failures are recorded, never fatal."""
    spec = getattr(caller, "spec", None)
    return spec is not None and "run" in spec.argnames


def _failed(plugin: str, hook: str, observer: bool, error: Exception) -> None:
    if not observer:
        if isinstance(error, PluginError):
            raise error
        raise PluginError(f"plugin '{plugin}' failed in {hook}: {type(error).__name__}: {error}") from error
    log.warning("plugin %s failed in %s: %s: %s", plugin, hook, type(error).__name__, error)
    call = _current_call.get()
    if call is not None and call.run is not None:
        call.run.record_error(plugin, hook, error)


def _guard_plain(function: Callable[..., Any], plugin: str, hook: str, observer: bool) -> Callable[..., Any]:
    def guarded(*args: Any) -> Any:
        try:
            with _acting_as(plugin):
                answer = function(*args)
        except Exception as error:
            _failed(plugin, hook, observer, error)
            return None
        call = _current_call.get()
        if observer and answer is not None and call is not None:
            call.answers.append((plugin, answer))
        return answer

    return guarded


def _guard_wrapper(function: Callable[..., Any], plugin: str, hook: str, observer: bool) -> Callable[..., Any]:
    """A generator standing in for a wrapper implementation: the wrapper's code before and after
    its `yield` runs as `plugin`; a failure in either part is handled as in a plain implementation
    and the wrapped result passes through unchanged."""

    def guarded(*args: Any) -> Generator[None, Any, Any]:
        try:
            with _acting_as(plugin):
                generator = function(*args)
                next(generator)
        except StopIteration:
            _failed(plugin, hook, observer, RuntimeError("the wrapper returned without yielding"))
            return (yield)
        except Exception as error:
            _failed(plugin, hook, observer, error)
            return (yield)
        try:
            received = yield
        except GeneratorExit:
            generator.close()
            raise
        except BaseException as inner:  # an inner implementation raised: the wrapper sees it, as in pluggy
            with _acting_as(plugin):
                try:
                    generator.throw(inner)
                except StopIteration as stop:
                    return stop.value
            raise RuntimeError(f"plugin '{plugin}': the {hook} wrapper yielded twice")
        with _acting_as(plugin):
            try:
                generator.send(received)
            except StopIteration as stop:
                return stop.value
            except Exception as error:
                _failed(plugin, hook, observer, error)
                return received
        _failed(plugin, hook, observer, RuntimeError("the wrapper yielded twice"))
        return received

    return guarded


def guard_plugin(pm: Any, plugin: object) -> None:
    """Guard every hook implementation `plugin` registered with `pm` (idempotent)."""
    for caller in pm.get_hookcallers(plugin) or ():
        observer = is_observer(caller)
        for impl in caller.get_hookimpls():
            if impl.plugin is not plugin or getattr(impl.function, _GUARDED, False):
                continue
            make = _guard_wrapper if (impl.wrapper or impl.hookwrapper) else _guard_plain
            guarded = make(impl.function, impl.plugin_name, caller.name, observer)
            setattr(guarded, _GUARDED, True)
            setattr(guarded, "__wrapped__", impl.function)
            # pluggy read the argument names from the original function already; it calls
            # `impl.function(*args)` with them, so the stand-in takes them positionally.
            impl.function = guarded


def call_observers(pm: Any, run: Any, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
    """Call an observer hook through pluggy; return `(plugin name, answer)` for each non-None answer."""
    call = _Call(run)
    token = _current_call.set(call)
    try:
        getattr(pm.hook, hook_name)(run=run, **kwargs)
    finally:
        _current_call.reset(token)
    return call.answers
