"""Model-family presets: the decoding a model's authors evaluate it with, applied by default.

A preset is chosen before the model loads (`--preset auto`, the default: the highest-priority
registered preset whose `match(model)` is true; `--preset NAME` or `--preset none`), printed on the
console and recorded in results.json (`config.preset`). Its settings sit between the command line
and the task YAML: `--repeats`, `--temperature`, `--top-p`, `--max-new-tokens`, `--mc-mode` and
`--chat-template/--no-chat-template` override each of them. Plugins add presets through the
`jlce_register_presets` hook.

Built in: `deepseek-r1`, for DeepSeek-R1, its distills and any model reasoning auto-detection marks
(QwQ, *-Thinking, ...): DeepSeek's protocol (temperature 0.6, top-p 0.95, no system prompt, up to
32,768 generated tokens, pass@1 as the mean over k samples), with k = 4 so that `--tasks all` stays
affordable (DeepSeek uses 4-64 by test-set size: raise it with `--repeats`), and multiple-choice
tasks asked generatively.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jlce.errors import UserError, did_you_mean
from jlce.sampling import Overrides


@dataclass(frozen=True)
class PresetSpec:
    """Default settings for the models `match(model_name)` accepts. `match` may be a
    "module:function" string. Unset (None) settings leave the task's own value."""

    name: str
    match: Callable[[str], bool] | str
    settings: Overrides = Overrides()
    chat_template: bool | None = None
    priority: int = 0  # among matching presets the highest wins (ties: the name sorting first)
    description: str = ""
    plugin: str = ""

    def record(self) -> dict[str, Any]:
        settings = {k: v for k, v in vars(self.settings).items() if v is not None}
        if self.chat_template is not None:
            settings["chat_template"] = self.chat_template
        return {"name": self.name, "plugin": self.plugin, "description": self.description, "settings": settings}


def is_reasoning_name(model: str) -> bool:
    """Reasoning auto-detection (the same name rule the backends use)."""
    from jlce.reasoning import is_reasoning_model

    return is_reasoning_model(model)


DEEPSEEK_R1 = PresetSpec(
    name="deepseek-r1",
    match=is_reasoning_name,
    settings=Overrides(repeats=4, temperature=0.6, top_p=0.95, max_new_tokens=32768, mc_mode="generate"),
    chat_template=True,
    description="DeepSeek-R1 protocol: temperature 0.6, top-p 0.95, no system prompt, up to 32,768 new tokens, "
                "pass@1 over k=4 samples, multiple choice asked generatively",
)


def register_presets(register: Callable[[PresetSpec], None]) -> None:
    register(DEEPSEEK_R1)


def choose_preset(presets: dict[str, PresetSpec], option: str, model: str) -> PresetSpec | None:
    """The preset for `--preset option` ('auto', 'none' or a name) and this model."""
    from jlce.specs import resolve

    if option == "none":
        return None
    if option != "auto":
        if option not in presets:
            raise UserError(f"unknown preset '{option}'{did_you_mean(option, presets)}; known: "
                            f"{', '.join(sorted(presets)) or 'none'} (or 'auto', 'none')")
        return presets[option]
    matching = [p for p in presets.values() if resolve(p.match)(model)]
    return min(matching, key=lambda p: (-p.priority, p.name)) if matching else None
