"""What plugins may add to `results.json` from `jlce_run_end`, and nothing else.

An answer is a mapping whose keys may be only:

- `"profile"`: `{name: section}`, the plugin's own section: `name` is the plugin's name (a
  profiler runs as plugin `profiler:<name>`);
- `"provenance"`: `{key: value}`, new keys beside the core's provenance record;
- `"extensions"`: `{<the plugin's own name>: section}` (`extensions.<plugin name>`).

A contribution never replaces what is there (scores, the model, the configuration, errors, the
core's provenance, another plugin's section). Anything else is refused and recorded in `errors`
as that plugin's error; the acceptable parts of its answer are kept. Sections must be JSON (a
value `results.json` cannot hold would otherwise lose the whole run).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from jlce.errors import PluginError

HOOK = "jlce_run_end"
ALLOWED = ("profile", "provenance", "extensions")

RecordError = Callable[[str, str, BaseException], None]


def _json_error(value: Any) -> str | None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as error:
        return str(error)
    return None


def _add(target: dict[str, Any], key: str, value: Any, where: str) -> None:
    if key in target:
        raise PluginError(f"'{where}.{key}' is already in the results and cannot be replaced")
    problem = _json_error(value)
    if problem is not None:
        raise PluginError(f"'{where}.{key}' is not JSON: {problem}")
    target[key] = value


def _merge_one(results: dict[str, Any], plugin: str, answer: Any, record: RecordError) -> None:
    def refuse(message: str) -> None:
        record(plugin, HOOK, PluginError(f"contribution refused: {message}"))

    if not isinstance(answer, Mapping):
        refuse(f"returned a {type(answer).__name__}; expected a mapping with keys among {', '.join(ALLOWED)}")
        return
    for key, value in answer.items():
        if key not in ALLOWED:
            refuse(f"'{key}' is not a section plugins may write (allowed: profile.<name>, provenance, "
                   f"extensions.{plugin})")
            continue
        if key == "extensions":
            if not isinstance(value, Mapping) or set(value) != {plugin}:
                names = sorted(map(str, value)) if isinstance(value, Mapping) else type(value).__name__
                refuse(f"'extensions' must hold exactly one key, the plugin's own name '{plugin}' (got {names})")
                continue
        elif not isinstance(value, Mapping):
            refuse(f"'{key}' must be a mapping, not {type(value).__name__}")
            continue
        if key == "profile":
            own = own_section(plugin)
            others = sorted(str(name) for name in value if name != own)
            if others:
                refuse(f"'profile.{others[0]}' is not this plugin's section (a plugin writes profile.{own})")
                value = {name: part for name, part in value.items() if name == own}
        section = results.setdefault(key, {})
        for name, part in value.items():
            try:
                _add(section, str(name), part, key)
            except PluginError as error:
                refuse(str(error))


def own_section(plugin: str) -> str:
    """The `profile.<name>` a plugin may write: its name (without the `profiler:` a profiler runs under)."""
    return plugin.removeprefix("profiler:")


def merge_contributions(results: dict[str, Any], answers: Iterable[tuple[str, Any]], record: RecordError) -> None:
    """Merge `(plugin name, answer)` pairs from `jlce_run_end` into `results`, in place."""
    for plugin, answer in answers:
        _merge_one(results, plugin, answer, record)
