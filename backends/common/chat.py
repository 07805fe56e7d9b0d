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


def render_messages(tokenizer: Any, messages: list[dict[str, str]], model: str) -> str:
    """A conversation (jlce.multiturn) rendered by the tokenizer's chat template, ending with the
    assistant's generation prompt. A conversation is always rendered this way (`--chat-template`
    governs single-turn prompts only); a tokenizer without a template is refused, since any
    made-up transcript format would be a prompt the model was never trained on."""
    if not getattr(tokenizer, "chat_template", None):
        raise UserError(f"multi-turn tasks need a chat template, and the tokenizer of '{model}' has none: use a "
                        "tokenizer that has one (--backend-arg tokenizer=PATH_OR_ID), or serve the model behind an "
                        "OpenAI-compatible server with a chat template (--backend openai)")
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    except Exception as error:  # jinja's TemplateError: e.g. a template that refuses a system message
        raise UserError(f"the chat template of '{model}' cannot render this conversation "
                        f"({', '.join(m['role'] for m in messages)}): {type(error).__name__}: {error}") from error
