"""Model aliases come from plugins (`jlce_register_model_aliases`): the built-in ones through the
core plugin, a third-party plugin's alongside them; unknown names get the nearest alias."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import jlce
from jlce.backends.common.aliases import registered_aliases, resolve_model_name
from jlce.errors import PluginError, UserError
from jlce.plugin import ModelAliasSpec, hookimpl
from jlce.plugin_manager import get_plugin_manager, reset_plugin_manager


@pytest.fixture
def plugins(monkeypatch):
    """The process-wide manager without third-party entry points; a test registers its plugins on it."""
    monkeypatch.setenv("JLCE_LOAD_PLUGINS", "")
    reset_plugin_manager()
    yield get_plugin_manager()
    reset_plugin_manager()


class LlmJpAliases:
    """A third-party plugin, written as docs/plugins.md shows."""

    def __init__(self, local_dir=None):
        self.local_dir = local_dir

    @hookimpl
    def jlce_register_model_aliases(self, register):
        register(ModelAliasSpec("llm-jp-3-1.8b", target="llm-jp/llm-jp-3-1.8b", description="LLM-jp 3, 1.8B"))
        if self.local_dir is not None:
            register(ModelAliasSpec("my-tiny", build=lambda: self.local_dir, description="a model built here"))


def test_the_built_in_aliases_come_through_the_hook(plugins):
    core = plugins.get_plugin("core")
    implementers = [impl.plugin for impl in plugins.hook.jlce_register_model_aliases.get_hookimpls()]
    assert core in implementers
    aliases = registered_aliases()
    assert aliases["deepseek-r1-distill-qwen-7b"].plugin == "core"
    assert aliases["jlce-tiny"].build == "jlce.tinymodel:ensure_tiny_model" and not aliases["jlce-tiny"].target


def test_a_plugin_adds_an_alias_resolved_case_insensitively(plugins, tmp_path):
    plugins.register(LlmJpAliases(tmp_path), name="llm-jp-aliases")
    aliases = registered_aliases()
    assert aliases["llm-jp-3-1.8b"].plugin == "llm-jp-aliases"
    assert "deepseek-r1-distill-qwen-7b" in aliases  # the built-ins stay
    ref = resolve_model_name("LLM-jp-3-1.8B")
    assert (ref.target, ref.local, ref.alias, ref.given) == ("llm-jp/llm-jp-3-1.8b", False, "llm-jp-3-1.8b", "LLM-jp-3-1.8B")
    built = resolve_model_name("my-tiny")
    assert (built.target, built.local, built.alias) == (str(tmp_path.resolve()), True, "my-tiny")

    from jlce.cli.listing import ls_group

    listed = CliRunner().invoke(ls_group, ["models"])
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if line.startswith("llm-jp-3-1.8b "))
    assert row.split()[:3] == ["llm-jp-3-1.8b", "llm-jp-aliases", "llm-jp/llm-jp-3-1.8b"]


def test_an_unknown_name_suggests_the_nearest_alias_a_plugin_registered(plugins):
    plugins.register(LlmJpAliases(), name="llm-jp-aliases")
    with pytest.raises(UserError, match=r"unknown model 'llm-jp-3-1\.8' \(did you mean 'llm-jp-3-1\.8b'\?\)"):
        resolve_model_name("llm-jp-3-1.8")
    with pytest.raises(UserError, match="did you mean 'deepseek-r1-distill-llama-8b'"):
        resolve_model_name("deepseek-r1-distill-llama-8")


def test_a_taken_alias_names_both_plugins(plugins):
    class Thief:
        @hookimpl
        def jlce_register_model_aliases(self, register):
            register(ModelAliasSpec("jlce-tiny", target="someone/else"))

    plugins.register(Thief(), name="thief")
    with pytest.raises(PluginError, match="model alias 'jlce-tiny' registered twice") as raised:
        registered_aliases()
    assert "plugin 'core'" in str(raised.value) and "plugin 'thief'" in str(raised.value)


@pytest.mark.parametrize("make, message", [
    (lambda: ModelAliasSpec("Upper", target="org/name"), "lower-case"),
    (lambda: ModelAliasSpec("both", target="org/name", build=lambda: "."), "either target"),
    (lambda: ModelAliasSpec("neither"), "either target"),
    (lambda: ModelAliasSpec("bad-target", target="not a hub id"), "not a hub id"),
])
def test_a_malformed_alias_is_blamed_on_its_plugin(plugins, make, message):
    class Broken:
        @hookimpl
        def jlce_register_model_aliases(self, register):
            register(make())

    plugins.register(Broken(), name="broken-aliases")
    with pytest.raises(PluginError, match=f"plugin 'broken-aliases' failed in jlce_register_model_aliases: .*{message}"):
        registered_aliases()


def test_a_run_loads_the_model_a_plugin_alias_builds(plugins, tiny_model_dir, tmp_path):
    """The real path: `--model my-tiny` through the transformers backend, recorded with its alias."""
    plugins.register(LlmJpAliases(tiny_model_dir), name="llm-jp-aliases")
    out = tmp_path / "run"
    results = jlce.evaluate(model="my-tiny", tasks="jcommonsenseqa", backend="transformers", data="fixture", limit=2,
                            device="cpu", use_cache=False, output_dir=out)
    assert json.loads((out / "results.json").read_text(encoding="utf-8")) == results
    model = results["provenance"]["model"]
    assert model["alias"] == "my-tiny" and model["given_name"] == "my-tiny"
    assert results["tasks"]["jcommonsenseqa"]["metrics"]["acc"]["value"] is not None


def test_the_documented_example_registers_its_alias(plugins):
    import re
    import types
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "plugins.md").read_text(encoding="utf-8")
    body = re.split(r"(?m)^#{2,3} ", text.split("### jlce_register_model_aliases\n", 1)[1])[0]
    (code,) = re.findall(r"```python\n(.*?)```", body, flags=re.DOTALL)
    module = types.ModuleType("doc_aliases")
    exec(compile(code, "docs/plugins.md (jlce_register_model_aliases)", "exec"), module.__dict__)
    plugins.register(module, name="doc_aliases")
    assert resolve_model_name("llm-jp-3-1.8b").target == "llm-jp/llm-jp-3-1.8b"
    assert registered_aliases()["llm-jp-3-1.8b"].plugin == "doc_aliases"
