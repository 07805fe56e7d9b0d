"""Loading one task or group file: safe YAML, includes, validation with located errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from jlce.errors import ConfigError, did_you_mean, nearest
from jlce.paths import contained
from jlce.taskschema import GroupConfig, TaskConfig
from jlce.yamlfile import LoadedYaml, load_yaml


def _validation_error(error: ValidationError, loaded: LoadedYaml) -> ConfigError:
    # A misspelt key shows up twice (unknown + missing): report the unknown one, with a suggestion.
    errors = sorted(error.errors(), key=lambda e: e["type"] != "extra_forbidden")
    suggested = set()
    for e in errors:
        if e["type"] == "extra_forbidden" and e["loc"]:
            match = nearest(str(e["loc"][-1]), _allowed_keys(tuple(e["loc"][:-1])))
            if match:
                suggested.add(tuple(e["loc"][:-1]) + (match,))
    errors = [e for e in errors if not (e["type"] == "missing" and tuple(e["loc"]) in suggested)]
    first = errors[0]
    loc = tuple(first["loc"])
    key = ".".join(str(part) for part in loc) or None
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden" and loc:
        allowed = _allowed_keys(loc[:-1])
        message = f"unknown key{did_you_mean(str(loc[-1]), allowed)}"
    elif first["type"] == "missing":
        message = "required key is missing"
    more = len(errors) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return ConfigError(message, file=loaded.path, line=loaded.line_of(loc), key=key)


def _allowed_keys(parent: tuple) -> list[str]:
    model: Any = TaskConfig
    for part in parent:
        if isinstance(part, int):
            continue
        annotation = model.model_fields.get(part).annotation if hasattr(model, "model_fields") and part in model.model_fields else None
        model = _model_in(annotation)
        if model is None:
            return []
    return list(model.model_fields) if hasattr(model, "model_fields") else []


def _model_in(annotation: Any) -> Any:
    from typing import get_args

    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _merged_data(path: Path, trail: tuple[Path, ...] = ()) -> tuple[dict, LoadedYaml]:
    """The YAML mapping with its `include:` chain merged (included keys first)."""
    resolved = path.resolve()
    if resolved in trail:
        chain = " -> ".join(p.name for p in trail + (resolved,))
        raise ConfigError(f"include cycle: {chain}", file=path, key="include")
    loaded = load_yaml(path)
    if not isinstance(loaded.data, dict):
        raise ConfigError("a task file must be a mapping of keys to values", file=path, line=1)
    data = dict(loaded.data)
    include = data.pop("include", None)
    if include is None:
        return data, loaded
    if not isinstance(include, str):
        raise ConfigError("must be a relative file path", file=path, line=loaded.lines.get(("include",)), key="include")
    line = loaded.lines.get(("include",))
    try:  # inside the including file's directory: relative, no '..', no symbolic link out
        base_path = contained(path.parent, include, what="include", file=path, key="include")
    except ConfigError as error:
        raise ConfigError(error.detail, file=path, line=line, key="include") from None
    if not base_path.is_file():
        raise ConfigError(f"included file '{include}' not found", file=path, line=loaded.lines.get(("include",)), key="include")
    base, _ = _merged_data(base_path, trail + (resolved,))
    base.update(data)
    return base, loaded


def load_task_config(path: Path) -> tuple[TaskConfig, str]:
    """Validate a task file; returns the config and the sha256 of its canonical definition."""
    data, loaded = _merged_data(path)
    try:
        config = TaskConfig.model_validate(data)
    except ValidationError as error:
        raise _validation_error(error, loaded) from None
    canonical = json.dumps(config.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return config, hashlib.sha256(canonical.encode()).hexdigest()


def load_group(path: Path) -> GroupConfig:
    loaded = load_yaml(path)
    if not isinstance(loaded.data, dict):
        raise ConfigError("a group file must be a mapping", file=path, line=1)
    try:
        return GroupConfig.model_validate(loaded.data)
    except ValidationError as error:
        first = error.errors()[0]
        loc = tuple(first["loc"])
        return_error = ConfigError(first["msg"], file=path, line=loaded.line_of(loc), key=".".join(map(str, loc)) or None)
        raise return_error from None
