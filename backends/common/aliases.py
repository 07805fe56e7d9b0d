"""Short model names, and how `--model` is read: an alias, a local directory or a hub id."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from jlce.errors import UserError, did_you_mean

ALIASES: dict[str, str] = {
    **{f"deepseek-r1-distill-qwen-{size}": f"deepseek-ai/DeepSeek-R1-Distill-Qwen-{size.upper()}"
       for size in ("1.5b", "7b", "14b", "32b")},
    **{f"deepseek-r1-distill-llama-{size}": f"deepseek-ai/DeepSeek-R1-Distill-Llama-{size.upper()}"
       for size in ("8b", "70b")},
}

# Built locally on first use (jlce.tinymodel), never downloaded.
TINY_ALIAS = "jlce-tiny"

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class ModelRef:
    """What `--model` names: `target` is a hub id or an absolute local path."""

    given: str
    target: str
    local: bool
    alias: str | None = None


def known_names() -> list[str]:
    return sorted([*ALIASES, TINY_ALIAS])


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1


def resolve_model_name(name: str) -> ModelRef:
    """Map an alias to its hub id, an existing directory to its absolute path, and keep
    `org/name` hub ids. Anything else is a `UserError` with the nearest known alias."""
    given = name
    name = name.strip()
    if not name:
        raise UserError("--model is empty; give a hub id (org/name), a local directory or an alias")
    key = name.lower()
    if key == TINY_ALIAS:
        from jlce.tinymodel import ensure_tiny_model

        return ModelRef(given, str(ensure_tiny_model()), local=True, alias=TINY_ALIAS)
    if key in ALIASES:
        return ModelRef(given, ALIASES[key], local=False, alias=key)
    path = Path(name).expanduser()
    if path.is_dir():
        return ModelRef(given, str(path.resolve()), local=True)
    if path.exists():
        raise UserError(f"model path '{name}' is a file; give the model directory")
    if _looks_like_path(name):
        raise UserError(f"model directory '{name}' does not exist")
    if _HUB_ID.match(name):
        return ModelRef(given, name, local=False)
    raise UserError(
        f"unknown model '{name}'{did_you_mean(key, known_names())}; give a hub id (org/name), "
        f"a local directory or one of: {', '.join(known_names())}"
    )
