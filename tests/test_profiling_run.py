"""Every profiler through a real evaluation of a tiny real model, as `jlce run --profile all` runs them."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from jlce.plugins.memory import live_samplers

PROFILER_MODULES = ("timing", "memory", "provenance", "kvcache", "energy", "tokenizer_stats")


@pytest.fixture(scope="module")
def results(tiny_model_dir, tmp_path_factory):
    from jlce.evaluator import evaluate
    from jlce.plugins import get_plugin_manager, reset_plugin_manager
    from jlce.runconfig import RunOptions

    output = tmp_path_factory.mktemp("run") / "out"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JLCE_LOAD_PLUGINS", "")
        reset_plugin_manager()
        try:
            pm = get_plugin_manager()
            for name in PROFILER_MODULES:  # until every profiler module is in DEFAULT_PLUGINS
                module = importlib.import_module(f"jlce.plugins.{name}")
                if not pm.is_registered(module):
                    pm.register(module, name=name)
            evaluate(RunOptions(model=str(tiny_model_dir), tasks="jcommonsenseqa", limit=6, data="fixture", use_cache=False,
                                show_progress=False, output_dir=output, profile=("all",), profile_options={"interval": 0.01}))
        finally:
            reset_plugin_manager()
    return json.loads((output / "results.json").read_text(encoding="utf-8"))


def test_no_profiler_failed_and_nothing_is_left_running(results):
    assert results["errors"] == []
    assert set(results["profile"]) >= {"timing", "memory", "kvcache", "energy", "tokenizer_stats"}
    assert live_samplers() == []


def test_sections_follow_the_documented_schema(results):
    import jsonschema

    schema = json.loads((Path(__file__).resolve().parents[1] / "docs" / "profiling.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate({"profile": results["profile"], "provenance": results["provenance"]}, schema)
    assert results["profile"]["kvcache"]["available"] and results["profile"]["tokenizer_stats"]["available"]


def test_stage_times_of_a_real_run_fit_in_its_wall_time(results):
    timing = results["profile"]["timing"]
    assert {"data_load", "model_load", "build_requests", "inference:loglikelihood", "scoring", "writing"} <= set(timing["stages"])
    assert sum(stage["seconds"] for stage in timing["stages"].values()) <= timing["wall_seconds"]
    answered = timing["throughput"]["loglikelihood"]["requests"]
    assert answered == results["cache"]["misses"] > 0


def test_kv_and_tokenizer_figures_match_the_model(results, tiny_model_dir):
    from jlce.backend import BackendConfig
    from jlce.backends.transformers.backend import TransformersBackend

    backend = TransformersBackend(BackendConfig(model=str(tiny_model_dir), dtype="float32", device="cpu"))
    try:
        assert results["profile"]["kvcache"]["bytes_per_token"] == backend.describe()["kv_bytes_per_token"]
        from jlce.task import load_tasks

        (task,) = load_tasks("jcommonsenseqa")
        task.build(limit=6, data="fixture")
        prompts = [instance.prompt for instance in task.instances]
        stats = results["profile"]["tokenizer_stats"]["tasks"]["jcommonsenseqa"]
        assert stats["tokens"] == sum(backend.count_tokens(prompts))
    finally:
        backend.close()


def test_provenance_agrees_with_the_results(results):
    provenance = results["provenance"]
    (task,) = provenance["tasks"]
    entry = results["tasks"]["jcommonsenseqa"]
    assert (task["version"], task["definition_hash"], task["data_hash"]) == (entry["version"], entry["definition_hash"], entry["data_hash"])
    assert provenance["model"]["fingerprint"] == results["model"]["fingerprint"]
    assert provenance["seeds"]["seed"] == results["config"]["seed"]
