"""`jlce run`'s options, generated from `jlce.runconfig.RunOptions` (their single definition).

Click collects text (and switches) only; `RunOptions` validates it, so the command line and
`jlce.evaluate(...)` refuse a bad value with the same message. Options left out on the command
line are left out of `RunOptions(...)` too: the defaults live in one place. The options are made
when the command first needs them (parsing, `--help`), so `jlce --help` does not import pydantic.
"""

from __future__ import annotations

import types
import typing
from typing import Any

import click
from click.core import ParameterSource

from jlce.errors import UserError


class RunCommand(click.Command):
    """A command whose run options come from `RunOptions`, ahead of its own (e.g. `--log`)."""

    _generated = False

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        if not self._generated:
            self.params[:0] = click_options()
            self._generated = True
        return super().get_params(ctx)


def click_options() -> list[click.Option]:
    """One click option per `RunOptions` field with `Cli` metadata, in the fields' order."""
    from jlce.runconfig import RunOptions, cli_of

    options = []
    for name, info in RunOptions.model_fields.items():
        cli = cli_of(name)
        if cli is None:  # a Python-API-only field
            continue
        settings: dict[str, Any] = {"help": _help(cli.help, info.metadata), "required": cli.required}
        if cli.switch:
            settings["is_flag"] = True
            if "/" in cli.flags[0]:  # --x/--no-x: True, False or (absent) the field's default
                settings["default"] = None
        else:  # text: the field's type converts and checks it (not click, whose messages would differ)
            settings["type"], settings["metavar"] = click.STRING, cli.metavar or _metavar(info.annotation)
        if cli.multiple:
            settings["multiple"] = True
        if cli.show_default:  # shown only: a value from its default is left out of RunOptions(...)
            settings["default"], settings["show_default"] = info.get_default(call_default_factory=True), True
        options.append(click.Option([*cli.flags, name], **settings))
    return options


def run_option_values(ctx: click.Context, given: dict[str, Any]) -> dict[str, Any]:
    """The `RunOptions` input from a parsed `jlce run`: the options the user gave (each through
    its `Cli.parse`), none of click's defaults."""
    from jlce.runconfig import cli_of

    values = {}
    for name, value in given.items():
        cli = cli_of(name)
        if cli is None or ctx.get_parameter_source(name) in (ParameterSource.DEFAULT, None):
            continue
        try:
            values[name] = cli.parse(value) if cli.parse is not None else value
        except ValueError as error:
            raise UserError(f"{cli.flags[0]} {error}") from None
    return values


def _help(text: str, metadata: list[Any]) -> str:
    """The help text, with the range its constraints allow as click shows one ([1<=x<=64])."""
    low = next((("<=", m.ge) for m in metadata if hasattr(m, "ge")), None) or \
        next((("<", m.gt) for m in metadata if hasattr(m, "gt")), None)
    high = next((("<=", m.le) for m in metadata if hasattr(m, "le")), None) or \
        next((("<", m.lt) for m in metadata if hasattr(m, "lt")), None)
    if low is None and high is None:
        return text
    shown = (f"{low[1]}{low[0]}" if low else "") + "x" + (f"{high[0]}{high[1]}" if high else "")
    if low and not high:
        shown = f"x{'>=' if low[0] == '<=' else '>'}{low[1]}"
    return f"{text}  [{shown}]" if text else f"[{shown}]"


def _metavar(annotation: Any) -> str:
    """INTEGER, FLOAT, [a|b] or TEXT, from the field's type (None left out)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)] \
        if typing.get_origin(annotation) in (typing.Union, types.UnionType) else [annotation]
    if len(args) == 1 and typing.get_origin(args[0]) is typing.Literal:
        return "[" + "|".join(map(str, typing.get_args(args[0]))) + "]"
    if args == [int]:
        return "INTEGER"
    if args == [float]:
        return "FLOAT"
    return "TEXT"
