"""Model aliases: short names `--model` accepts, registered by plugins through the
`jlce_register_model_aliases` hook (the built-in ones come through the same hook, from `jlce.builtin`).

An alias names either a hub id (`target="org/name"`) or a function that builds a local model and
returns its directory (`build`, a callable or a `"module:function"` string, imported only when the
alias is used): `jlce-tiny` is built that way, never downloaded. Aliases match case-insensitively;
a name that is no alias, directory or hub id gets the nearest alias as a suggestion.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")

TINY_ALIAS = "jlce-tiny"


@dataclass(frozen=True)
class ModelAliasSpec:
    """`--model NAME` standing for the hub id `target`, or for the local directory `build()` returns."""

    name: str
    target: str = ""
    build: Callable[[], Any] | str | None = None
    description: str = ""
    plugin: str = ""

    def __post_init__(self) -> None:
        if self.name != self.name.strip().lower() or not self.name or "/" in self.name:
            raise ValueError(f"model alias {self.name!r}: an alias is a lower-case name without '/' "
                             "(--model matches it case-insensitively)")
        if bool(self.target) == (self.build is not None):
            raise ValueError(f"model alias '{self.name}': give either target (a hub id) or build, not both or neither")
        if self.target and not HUB_ID.match(self.target):
            raise ValueError(f"model alias '{self.name}': target '{self.target}' is not a hub id (org/name)")


# The DeepSeek-R1 distills, by their lower-cased repository names.
HUB_ALIASES: dict[str, str] = {
    **{f"deepseek-r1-distill-qwen-{size}": f"deepseek-ai/DeepSeek-R1-Distill-Qwen-{size.upper()}"
       for size in ("1.5b", "7b", "14b", "32b")},
    **{f"deepseek-r1-distill-llama-{size}": f"deepseek-ai/DeepSeek-R1-Distill-Llama-{size.upper()}"
       for size in ("8b", "70b")},
}


def register_model_aliases(register: Callable[[ModelAliasSpec], None]) -> None:
    """The built-in aliases (registered by the core plugin, `jlce.builtin`)."""
    for name, target in HUB_ALIASES.items():
        register(ModelAliasSpec(name, target=target, description=f"{target} on the Hugging Face hub"))
    register(ModelAliasSpec(TINY_ALIAS, build="jlce.tinymodel:ensure_tiny_model",
                            description="a tiny Llama-style model built locally on first use (never downloaded)"))
