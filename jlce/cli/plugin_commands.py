"""Commands that plugins add to `jlce` (`jlce_register_commands(cli)`, as llm and datasette have).

Plugins load only when a command name is not built in (or `jlce ls commands` asks): loading them
imports pluggy, scans the installed packages' entry points and imports every plugin module, which
would make `jlce --help` and the built-in commands slow. A plugin whose hook raises, or that tries
to replace a built-in command, is reported on stderr by name; its commands are left out and every
other command still works.
"""

from __future__ import annotations

from typing import Any

import click

HOOK = "jlce_register_commands"


def add_plugin_commands(pm: Any, cli: click.Group) -> list[str]:
    """Call each plugin's `jlce_register_commands(cli)` through pluggy, one plugin at a time so
    that a failure is that plugin's alone. Returns one message per plugin that failed."""
    from jlce.errors import PluginError

    caller = getattr(pm.hook, HOOK)
    problems: list[str] = []
    plugins = [impl.plugin for impl in caller.get_hookimpls()]
    for plugin in reversed(plugins):  # registration order (pluggy calls the last registered first)
        name = pm.get_name(plugin)
        before = dict(cli.commands)
        only_this = pm.subset_hook_caller(HOOK, remove_plugins=[p for p in plugins if p is not plugin])
        try:
            only_this(cli=cli)
        except PluginError as error:
            cli.commands.clear()
            cli.commands.update(before)
            problems.append(f"{error}; its commands are not available")
            continue
        clashes = sorted(n for n, command in before.items() if cli.commands.get(n) is not command)
        if clashes:
            cli.commands.clear()
            cli.commands.update(before)
            problems.append(f"plugin '{name}' tried to replace the command{'s' if len(clashes) > 1 else ''} "
                            f"{', '.join(repr(c) for c in clashes)}; its commands are not available")
    return problems


class PluginCommandGroup(click.Group):
    """A click group whose plugin commands are added on first need (a name that is not built in)."""

    plugins_loaded = False

    def load_plugin_commands(self) -> list[str]:
        """Add the plugins' commands once; report each failing plugin on stderr. Returns the names added."""
        if self.plugins_loaded:
            return []
        self.plugins_loaded = True
        from jlce.errors import JLCEError
        from jlce.plugin_manager import get_plugin_manager

        built_in = set(self.commands)
        try:
            problems = add_plugin_commands(get_plugin_manager(), self)
        except JLCEError as error:  # a plugin that cannot even be loaded
            problems = [f"{error}; plugin commands are not available"]
        for problem in problems:
            click.echo(f"jlce: warning: {problem}", err=True)
        return sorted(set(self.commands) - built_in)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and not self.plugins_loaded:
            self.load_plugin_commands()
            command = super().get_command(ctx, cmd_name)
        return command
