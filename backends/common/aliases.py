"""How `--model` is read: a model alias (registered by plugins, `jlce.modelalias`), a local
directory or a hub id."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from jlce.errors import UserError, did_you_mean
from jlce.modelalias import HUB_ID, ModelAliasSpec


@dataclass(frozen=True)
class ModelRef:
    """What `--model` names: `target` is a hub id or an absolute local path."""

    given: str
    target: str
    local: bool
    alias: str | None = None


def registered_aliases() -> dict[str, ModelAliasSpec]:
    """The aliases every loaded plugin registered (`jlce_register_model_aliases`)."""
    from jlce.registry import get_registry

    return get_registry().model_aliases


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1


def resolve_model_name(name: str, aliases: Mapping[str, ModelAliasSpec] | None = None) -> ModelRef:
    """Map an alias to its hub id (or to the directory its `build` returns), an existing directory
    to its absolute path, and keep `org/name` hub ids. Anything else is a `UserError` with the
    nearest alias. `aliases`: the registered ones unless given."""
    given = name
    name = name.strip()
    if not name:
        raise UserError("--model is empty; give a hub id (org/name), a local directory or an alias")
    aliases = registered_aliases() if aliases is None else aliases
    key = name.lower()
    if key in aliases:
        spec = aliases[key]
        if spec.build is not None:
            from jlce.specs import resolve

            return ModelRef(given, str(Path(resolve(spec.build)()).resolve()), local=True, alias=key)
        return ModelRef(given, spec.target, local=False, alias=key)
    path = Path(name).expanduser()
    if path.is_dir():
        return ModelRef(given, str(path.resolve()), local=True)
    if path.exists():
        raise UserError(f"model path '{name}' is a file; give the model directory")
    if _looks_like_path(name):
        raise UserError(f"model directory '{name}' does not exist")
    if HUB_ID.match(name):
        return ModelRef(given, name, local=False)
    known = sorted(aliases)
    raise UserError(
        f"unknown model '{name}'{did_you_mean(key, known)}; give a hub id (org/name), "
        f"a local directory or one of: {', '.join(known) or 'no alias registered'} (`jlce ls models`)"
    )
