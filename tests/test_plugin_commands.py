"""Plugins add commands to `jlce` (`jlce_register_commands`): installed plugins run from the real
command line, a failing plugin is named and leaves the other commands working, and `jlce --help`
loads no plugin."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from jlce.cli.plugin_commands import PluginCommandGroup, add_plugin_commands
from jlce.plugin import hookimpl
from jlce.plugin_manager import JLCEPluginManager

DOCS = Path(__file__).resolve().parents[1] / "docs"

HELLO = """
import click
from jlce.plugin import hookimpl

@hookimpl
def jlce_register_commands(cli):
    @cli.command()
    @click.argument("name")
    def hello(name):
        \"\"\"Greet NAME.\"\"\"
        click.echo(f"こんにちは、{name}さん")
"""

BROKEN = """
from jlce.plugin import hookimpl

@hookimpl
def jlce_register_commands(cli):
    raise RuntimeError("boom")
"""


def _install(site: Path, name: str, code: str) -> None:
    """A plugin package as pip leaves it: the module and its dist-info with the entry point."""
    info = site / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[jlce]\n{name} = {name}_module\n")
    (site / f"{name}_module.py").write_text(textwrap.dedent(code))


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("site")
    _install(site, "hello_cmd", HELLO)
    _install(site, "broken_cmd", BROKEN)
    return site


def _jlce(site: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site), "JLCE_CACHE_DIR": str(tmp / "cache")}
    for name in ("JLCE_DEBUG", "JLCE_LOAD_PLUGINS", "JLCE_DISABLE_PLUGINS"):
        env.pop(name, None)
    return subprocess.run([sys.executable, "-m", "jlce", *args], capture_output=True, text=True, env=env, timeout=300)


BROKEN_WARNING = ("jlce: warning: plugin 'broken_cmd' failed in jlce_register_commands: RuntimeError: boom; "
                  "its commands are not available")


def test_an_installed_plugin_command_runs_and_a_broken_one_is_named(site, tmp_path):
    done = _jlce(site, tmp_path, "hello", "世界")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "こんにちは、世界さん\n"
    assert done.stderr.strip() == BROKEN_WARNING

    listed = _jlce(site, tmp_path, "ls", "commands")
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"(?m)^hello +Greet NAME\.$", listed.stdout)
    assert listed.stderr.strip() == BROKEN_WARNING


def test_built_in_commands_work_without_loading_plugin_commands(site, tmp_path):
    done = _jlce(site, tmp_path, "ls", "formats")
    assert done.returncode == 0, done.stderr
    assert "squad_flat" in done.stdout and "jsem_xml" in done.stdout
    assert done.stderr == ""  # the commands hook is not called for a built-in command

    unknown = _jlce(site, tmp_path, "helo", "x")
    assert unknown.returncode == 2
    assert "No such command 'helo'" in unknown.stderr and BROKEN_WARNING in unknown.stderr


def test_help_loads_no_plugin_and_no_heavy_library(site, tmp_path):
    code = ("import sys\nsys.argv = ['jlce', '--help']\nfrom jlce.cli.main import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "import json\nprint(json.dumps(sorted(m for m in ('pluggy', 'jlce.plugin_manager', 'importlib.metadata', "
            "'torch', 'numpy', 'ray', 'hello_cmd_module') if m in sys.modules)))\n")
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    *help_lines, loaded = done.stdout.strip().splitlines()
    assert json.loads(loaded) == []
    assert "Plugins can add commands (`jlce ls commands` lists them)." in "\n".join(help_lines)


class Replacer:
    @hookimpl
    def jlce_register_commands(self, cli):
        @cli.command("run")
        def run():
            """Not JLCE's run."""

        @cli.command("extra")
        def extra():
            """Would come along with the replacement."""


class Adder:
    @hookimpl
    def jlce_register_commands(self, cli):
        @cli.command("stats")
        def stats():
            click.echo("ok")


def test_a_plugin_cannot_replace_a_built_in_command():
    @click.group(cls=PluginCommandGroup)
    def cli():
        pass

    @cli.command("run")
    def run():
        click.echo("built-in run")

    pm = JLCEPluginManager()
    pm.register(Adder(), name="adder")
    pm.register(Replacer(), name="replacer")
    problems = add_plugin_commands(pm, cli)
    assert problems == ["plugin 'replacer' tried to replace the command 'run'; its commands are not available"]
    assert sorted(cli.commands) == ["run", "stats"]
    assert CliRunner().invoke(cli, ["run"]).output == "built-in run\n"
    assert CliRunner().invoke(cli, ["stats"]).output == "ok\n"


def test_the_documented_example_adds_its_command(monkeypatch):
    monkeypatch.setenv("JLCE_LOAD_PLUGINS", "")
    text = (DOCS / "plugins.md").read_text(encoding="utf-8")
    body = re.split(r"(?m)^#{2,3} ", text.split("### jlce_register_commands\n", 1)[1])[0]
    (code,) = re.findall(r"```python\n(.*?)```", body, flags=re.DOTALL)
    module = types.ModuleType("doc_commands")
    exec(compile(code, "docs/plugins.md (jlce_register_commands)", "exec"), module.__dict__)

    @click.group(cls=PluginCommandGroup)
    def cli():
        pass

    pm = JLCEPluginManager()
    pm.register(module, name="doc_commands")
    assert add_plugin_commands(pm, cli) == []
    done = CliRunner().invoke(cli, ["count-tasks", "--prefix", "jcommonsense"])
    assert done.exit_code == 0, done.output
    assert done.output == "1 tasks\n"
