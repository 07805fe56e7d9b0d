"""Chat templates, shared by the backends that tokenize locally (transformers, vLLM)."""

from __future__ import annotations

import re
from typing import Any

from jlce.errors import UserError

# A chat or reasoning model by its name: "...-Instruct", "...-chat", "...-it", "...-R1-...", "...think..."
CHAT_NAME = re.compile(r"(?:^|[-_.])(?:instruct\w*|chat\w*|it|r1|reasoning|think\w*)(?:[-_.]|$)", re.IGNORECASE)


def looks_like_chat_model(*names: str) -> bool:
    """True when the last path component of any name has a chat/reasoning marker."""
    return any(CHAT_NAME.search(name.rstrip("/").rsplit("/", 1)[-1]) for name in names if name)


def chat_template_wanted(tokenizer: Any, requested: bool | None, model: str, target: str) -> bool:
    """`--chat-template` as asked; by default on when the tokenizer has a template and the model's
    name marks it as a chat or reasoning model."""
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if requested and not has_template:
        raise UserError(f"--chat-template requested but the tokenizer of '{model}' has none")
    if requested is None:
        return has_template and looks_like_chat_model(model, target)
    return bool(requested)


def render_chat(tokenizer: Any, text: str) -> str:
    """The prompt as one user turn, followed by the assistant's generation prompt."""
    return tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True)
