"""`--backend-arg KEY=VALUE`: parsed once, by the backend's own options model.

The command line keeps the values as text; a backend declares a pydantic model of its options
(`BackendSpec(..., options=MyOptions)`) and the core parses the pairs with it before any data or
model loads. The parsed model reaches the backend in `BackendConfig.options`; `backend_options()`
inside the backend returns it unchanged (or parses a plain dict, for code that builds a
`BackendConfig` itself). Errors name the backend, the key, the closest known key and all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from jlce.errors import UserError, did_you_mean

M = TypeVar("M")


def parse_backend_options(model: type[M], raw: Mapping[str, Any], backend: str) -> M:
    """`raw` (text from the command line, or values from Python) validated by `model` (pydantic)."""
    from pydantic import ValidationError

    from jlce.reasoning import reject_backend_args

    reject_backend_args(dict(raw), backend)  # reasoning is a run option now: say where it went
    fields = model.model_fields  # type: ignore[attr-defined]
    for key in raw:
        if key not in fields:
            raise UserError(f"backend '{backend}': unknown --backend-arg '{key}'{did_you_mean(str(key), fields)}; "
                            f"known: {', '.join(sorted(fields)) or 'none'}")
    try:
        return model.model_validate(dict(raw))  # type: ignore[attr-defined]
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        given = f"={_shown(raw[key])}" if key in raw else ""
        message = str(first["msg"]).removeprefix("Value error, ")
        about = getattr(fields.get(key), "description", None)
        raise UserError(f"backend '{backend}': --backend-arg {key}{given}: {message}"
                        + (f" ({key}: {about})" if about else "")) from None


def backend_options(model: type[M], options: Any, backend: str) -> M:
    """A backend's options: `options` itself when the core already parsed it, else parsed now."""
    if isinstance(options, model):
        return options
    return parse_backend_options(model, options or {}, backend)


def options_model(spec: Any) -> type | None:
    """The options model a `BackendSpec` declares (a `"module:Class"` string is imported), or None."""
    from pydantic import BaseModel

    from jlce.errors import PluginError
    from jlce.specs import resolve

    declared = getattr(spec, "options", None)
    if declared is None:
        return None
    where = f"backend '{spec.name}' (plugin '{spec.plugin}')"
    try:
        model = resolve(declared)
    except (ImportError, AttributeError, ValueError) as error:
        raise PluginError(f"{where}: cannot import its options model {declared!r}: {error}") from error
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise PluginError(f"{where}: its options model must be a pydantic BaseModel class, not {model!r}")
    return model


def parse_for_spec(spec: Any, raw: Mapping[str, Any]) -> Any:
    """The `--backend-arg` pairs for the backend `spec`: its model parsed, or the pairs as given."""
    model = options_model(spec)
    if model is None:
        return dict(raw)
    return parse_backend_options(model, raw, spec.name)


def option_rows(spec: Any) -> list[tuple[str, str, str]]:
    """(key, default, description) of each option a backend declares ([] when it declares none)."""
    model = options_model(spec)
    if model is None:
        return []
    rows = []
    for name, field in model.model_fields.items():  # type: ignore[attr-defined]
        default = "required" if field.is_required() else repr(field.get_default(call_default_factory=True))
        rows.append((name, default, field.description or ""))
    return rows


def _shown(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 100 else text[:100] + "..."
