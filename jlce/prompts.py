"""Prompt templates: Jinja rendered in an immutable sandbox, undefined variables are errors."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from jlce.errors import ConfigError
from jlce.sandbox import BoundedSandbox, TemplateLimitError, end_budget, start_budget

MAX_RENDERED_CHARS = 2_000_000


@lru_cache(maxsize=1)
def environment() -> ImmutableSandboxedEnvironment:
    env = BoundedSandbox(  # jlce.sandbox: loops, numbers, text and recursion bounded
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # prompts are plain text for a model, never HTML
        keep_trailing_newline=True,
    )
    # Drop helper objects a template has no use for (the sandbox already bounds range()).
    for name in ("cycler", "joiner", "namespace", "lipsum"):
        env.globals.pop(name, None)
    return env


@lru_cache(maxsize=4096)
def _compile(source: str) -> jinja2.Template:
    return environment().from_string(source)


class Template:
    """One template of a task file, remembering where it came from for error messages."""

    def __init__(self, source: str, *, file: Path | None = None, key: str = "prompt", line: int | None = None):
        self.source = source
        self.file = file
        self.key = key
        self.line = line
        try:
            self._template = _compile(source)
        except jinja2.TemplateSyntaxError as error:
            raise ConfigError(f"template syntax error: {error.message}", file=file, line=_line(line, error.lineno), key=key) from None
        except (ValueError, OverflowError, MemoryError, TemplateLimitError) as error:  # e.g. a 5,000-digit literal
            raise ConfigError(f"template refused: {str(error).splitlines()[0][:200]}", file=file, line=line, key=key) from None
        except RecursionError:
            raise ConfigError("template refused: its expressions nest too deeply", file=file, line=line, key=key) from None

    def render(self, doc: dict[str, Any], **extra: Any) -> str:
        budget = start_budget()
        try:
            text = self._stream(doc, extra)
        except TemplateLimitError as error:
            raise ConfigError(f"template refused: {error}", file=self.file, line=self.line, key=self.key) from None
        except RecursionError:
            raise ConfigError("template refused: it recurses too deeply (a macro or recursive loop that does not end?)",
                              file=self.file, line=self.line, key=self.key) from None
        except MemoryError:
            raise ConfigError("template refused: it ran out of memory", file=self.file, line=self.line, key=self.key) from None
        except jinja2.UndefinedError as error:
            fields = ", ".join(sorted(map(str, doc))) or "none"
            raise ConfigError(f"template uses an undefined variable: {error.message}; document fields: {fields}",
                              file=self.file, line=self.line, key=self.key) from None
        except SecurityError as error:
            raise ConfigError(f"template refused by the sandbox: {error}", file=self.file, line=self.line, key=self.key) from None
        except (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError, OverflowError, jinja2.TemplateError) as error:
            raise ConfigError(f"template failed: {type(error).__name__}: {error}", file=self.file, line=self.line, key=self.key) from None
        finally:
            end_budget(budget)
        return text

    def _stream(self, doc: dict[str, Any], extra: dict[str, Any]) -> str:
        """Render piece by piece, stopping as soon as the text passes MAX_RENDERED_CHARS."""
        parts: list[str] = []
        size = 0
        for part in self._template.generate(**doc, **extra):
            size += len(part)
            if size > MAX_RENDERED_CHARS:
                raise TemplateLimitError(f"the rendered text passes {MAX_RENDERED_CHARS:,} characters")
            parts.append(part)
        return "".join(parts)

    def value(self, doc: dict[str, Any]) -> Any:
        """The template's value with its type kept when the template is one `{{ expression }}`
        (an int label stays an int, the text "2" stays text); otherwise the rendered text."""
        expression = _expression(self.source)
        if expression is None:
            return self.render(doc)
        try:
            value = expression(**doc)
        except Exception:  # noqa: BLE001 - rendering raises the same error, located and explained
            self.render(doc)
            raise
        if isinstance(value, jinja2.Undefined):
            self.render(doc)  # StrictUndefined: the located "undefined variable" error
        return value


_SINGLE_EXPRESSION = re.compile(r"\s*\{\{-?(.*?)-?\}\}\s*", re.DOTALL)


@lru_cache(maxsize=1024)
def _expression(source: str):
    """The compiled expression of a one-`{{ expression }}` template, or None."""
    match = _SINGLE_EXPRESSION.fullmatch(source)
    if match is None or any(mark in match.group(1) for mark in ("{{", "}}", "{%", "%}", "{#")):
        return None
    try:
        return environment().compile_expression(match.group(1), undefined_to_none=False)
    except jinja2.TemplateSyntaxError:
        return None


def _line(base: int | None, offset: int | None) -> int | None:
    if base is None:
        return offset
    return base + (offset or 1) - 1
