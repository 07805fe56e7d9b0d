"""Profilers driven through a real pluggy manager and a real RunContext, as the evaluator drives them."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jlce.errors import UserError
from jlce.events import BatchEvent, RunContext, StageEvent
from jlce.plugins import hookimpl, make_plugin_manager, notify
from jlce.plugins._devices import open_monitor
from jlce.plugins.memory import THREAD_NAME, live_samplers
from jlce.plugins.provenance import ProvenanceRecorder
from jlce.profiling import merge_sections, profiler_options, select_profilers, start_profilers, stop_profilers
from jlce.registry import build_registry
from jlce.specs import ProfilerSpec

PROFILER_MODULES = ("timing", "memory", "provenance", "kvcache", "energy", "tokenizer_stats")


@pytest.fixture
def pm(monkeypatch):
    monkeypatch.setenv("JLCE_LOAD_PLUGINS", "")  # no third-party entry points
    manager = make_plugin_manager()
    for name in PROFILER_MODULES:
        module = importlib.import_module(f"jlce.plugins.{name}")
        if not manager.is_registered(module):
            manager.register(module, name=name)
    return manager


def stage(pm, run, name, task=None, seconds=0.0):
    notify(pm, run, "jlce_stage_start", event=StageEvent(name, task))
    began = time.perf_counter()
    time.sleep(seconds)
    notify(pm, run, "jlce_stage_end", event=StageEvent(name, task, time.perf_counter() - began))


def simulated_run(pm, run, interval=0.01):
    """A run's lifecycle with real (short) stages; returns the merged run-end sections and, as the
    evaluator records it in every run, the provenance."""
    recorder = ProvenanceRecorder()
    recorder.start()
    active = start_profilers(pm, build_registry(pm), "all", {"interval": interval}, run=run)
    try:
        notify(pm, run, "jlce_run_start")
        stage(pm, run, "data_load", seconds=0.02)
        stage(pm, run, "model_load", seconds=0.01)
        notify(pm, run, "jlce_model_loaded")
        stage(pm, run, "build_requests", seconds=0.005)
        notify(pm, run, "jlce_stage_start", event=StageEvent("inference:loglikelihood"))
        for size in (8, 8, 3):
            time.sleep(0.005)
            notify(pm, run, "jlce_after_batch", event=BatchEvent("loglikelihood", size, 0.005, prompt_tokens=10 * size, batch_size=8))
        notify(pm, run, "jlce_stage_end", event=StageEvent("inference:loglikelihood", seconds=0.015))
        for task in ("jcommonsenseqa", "jnli"):
            stage(pm, run, "scoring", task, seconds=0.01)
            stage(pm, run, "writing", task, seconds=0.002)
        sections = merge_sections(notify(pm, run, "jlce_run_end"))
        sections["provenance"] = recorder.record(run)
        return sections
    finally:
        stop_profilers(pm, active, run=run)
        recorder.close()


def test_select_profilers(pm):
    registry = build_registry(pm)
    assert set(select_profilers(registry, None)) == {n for n, s in registry.profilers.items() if s.default}
    assert select_profilers(registry, "none") == []
    assert select_profilers(registry, ()) == []
    assert set(select_profilers(registry, "all")) == set(registry.profilers)
    assert select_profilers(registry, "memory, timing") == ["memory", "timing"]
    assert select_profilers(registry, ("timing,memory", "timing")) == ["timing", "memory"]
    with pytest.raises(UserError, match="did you mean 'memory'"):
        select_profilers(registry, "memroy")
    with pytest.raises(UserError):
        select_profilers(registry, "all,timing")


def test_profiler_options_shared_and_own():
    options = {"interval": 0.1, "tokenizer_stats": {"max_prompts": 5}}
    assert profiler_options(options, "memory") == {"interval": 0.1}
    assert profiler_options(options, "tokenizer_stats") == {"interval": 0.1, "max_prompts": 5}


def test_a_run_gets_every_section_and_leaves_nothing_behind(pm):
    run = RunContext("r", {"seed": 7}, None)
    sections = simulated_run(pm, run)
    assert run.errors == []
    assert set(sections["profile"]) == {"timing", "memory", "kvcache", "energy", "tokenizer_stats"}
    assert sections["provenance"]["seeds"] == {"seed": 7}
    assert sections["profile"]["memory"]["samples"] >= 1
    assert sections["profile"]["memory"]["process"]["peak_rss_bytes"] > 0
    assert live_samplers() == []
    assert not [name for name, _ in pm.list_name_plugin() if name.startswith("profiler:")]


def test_profilers_never_import_torch():
    code = (
        "import sys, importlib\n"
        "from jlce.events import RunContext\n"
        "from jlce.plugins import make_plugin_manager\n"
        f"for name in {PROFILER_MODULES!r}: importlib.import_module('jlce.plugins.' + name)\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "import test_profiling as t\n"
        "pm = make_plugin_manager()\n"
        f"[pm.register(importlib.import_module('jlce.plugins.' + n), name=n) for n in {PROFILER_MODULES!r} if not pm.has_plugin(n)]\n"
        "t.simulated_run(pm, RunContext('r', {}, None))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "JLCE_LOAD_PLUGINS": ""})
    assert done.returncode == 0, done.stderr


def test_sections_follow_the_documented_schema(pm):
    import json

    import jsonschema

    schema = json.loads((Path(__file__).resolve().parents[1] / "docs" / "profiling.schema.json").read_text(encoding="utf-8"))
    sections = simulated_run(pm, RunContext("r", {"seed": 1}, None))
    jsonschema.validate(sections, schema)


def test_stage_times_sum_to_no_more_than_wall_time(pm):
    run = RunContext("r", {}, None)
    timing = simulated_run(pm, run)["profile"]["timing"]
    stage_sum = sum(entry["seconds"] for entry in timing["stages"].values())
    assert 0 < stage_sum <= timing["wall_seconds"]
    assert timing["staged_seconds"] <= timing["wall_seconds"]
    assert timing["overlap_seconds"] == pytest.approx(0.0, abs=1e-9)
    assert timing["stages"]["scoring"]["count"] == 2
    for task, entry in timing["tasks"].items():
        assert entry["total"] == pytest.approx(entry["scoring"] + entry["writing"])
    # every stage has a UTC start and end inside the run
    for item in timing["timeline"]:
        assert timing["started_at"] <= item["start"] <= item["end"] <= timing["ended_at"]
    throughput = timing["throughput"]["loglikelihood"]
    assert (throughput["batches"], throughput["requests"], throughput["prompt_tokens"]) == (3, 19, 190)
    assert throughput["requests_per_s"] == pytest.approx(19 / throughput["batch_seconds"])


def test_the_memory_sampler_thread_is_gone_after_the_run(pm):
    run = RunContext("r", {}, None)
    active = start_profilers(pm, build_registry(pm), "memory", {"interval": 0.01}, run=run)
    notify(pm, run, "jlce_run_start")
    (memory,) = active
    assert memory.sampler.is_alive() and memory.sampler.daemon and memory.sampler.name == THREAD_NAME
    time.sleep(0.05)
    notify(pm, run, "jlce_run_end")
    assert not memory.sampler.is_alive()
    stop_profilers(pm, active, run=run)
    assert live_samplers() == []


def test_the_sampler_stops_when_the_run_fails_before_its_end(pm):
    run = RunContext("r", {}, None)
    active = start_profilers(pm, build_registry(pm), "memory", {"interval": 0.01}, run=run)
    notify(pm, run, "jlce_run_start")
    assert live_samplers()
    stop_profilers(pm, active, run=run)  # what the evaluator's `finally` does after an exception
    assert live_samplers() == []
    stop_profilers(pm, active, run=run)  # twice is harmless


class Broken:
    """A third-party profiler that fails in two hooks."""

    @hookimpl
    def jlce_stage_end(self, run, event):
        raise RuntimeError("stage end exploded")

    @hookimpl
    def jlce_run_end(self, run):
        raise ValueError("run end exploded")


class BrokenPlugin:
    @hookimpl
    def jlce_register_profilers(self, register):
        register(ProfilerSpec("broken", lambda options: Broken()))
        register(ProfilerSpec("unbuildable", lambda options: 1 / 0))


def test_a_failing_profiler_leaves_the_others_intact_with_its_error_recorded(pm):
    pm.register(BrokenPlugin(), name="broken-plugin")
    run = RunContext("r", {}, None)
    sections = simulated_run(pm, run)
    failures = {(e["plugin"], e["hook"]) for e in run.errors}
    assert ("profiler:broken", "jlce_stage_end") in failures
    assert ("profiler:broken", "jlce_run_end") in failures
    assert ("profiler:unbuildable", "start") in failures
    messages = " ".join(e["error"] for e in run.errors)
    assert "RuntimeError: stage end exploded" in messages and "ValueError: run end exploded" in messages
    assert "ZeroDivisionError" in messages
    timing = sections["profile"]["timing"]
    assert set(timing["stages"]) == {"data_load", "model_load", "build_requests", "inference:loglikelihood", "scoring", "writing"}
    assert sections["profile"]["memory"]["samples"] >= 1 and "provenance" in sections
    assert live_samplers() == []


def test_a_bad_option_is_a_user_error(pm):
    with pytest.raises(UserError, match="interval"):
        start_profilers(pm, build_registry(pm), "timing,memory", {"interval": -1})
    assert not [name for name, _ in pm.list_name_plugin() if name.startswith("profiler:")]


def test_merge_sections():
    merged = merge_sections([{"profile": {"a": 1}}, None, {"profile": {"b": 2}}, {"provenance": {"x": 1}}])
    assert merged == {"profile": {"a": 1, "b": 2}, "provenance": {"x": 1}}


def test_device_sections_match_what_the_monitoring_library_sees(pm):
    monitor = open_monitor()
    gpus = [gpu.describe() for gpu in monitor.gpus] if monitor else []
    if monitor:
        monitor.close()
    run = RunContext("r", {}, None)
    sections = simulated_run(pm, run)
    memory, energy = sections["profile"]["memory"], sections["profile"]["energy"]
    assert sections["provenance"]["hardware"]["gpus"] == gpus
    assert [{key: device[key] for key in ("index", "name", "uuid")} for device in memory["devices"]] == \
        [{key: gpu[key] for key in ("index", "name", "uuid")} for gpu in gpus]
    if gpus:
        assert all(device["peak_used_bytes"] is not None for device in memory["devices"])
    else:  # no NVML / AMD SMI device here: absent, gracefully, with the reason
        assert energy["available"] is False and energy["reason"]


def test_child_processes_are_measured_like_an_engine_in_another_process(pm):
    """vLLM keeps the model in worker processes: their memory must show up."""
    size = 64 * 2**20
    child = subprocess.Popen([sys.executable, "-c", f"import sys, time; b = bytearray({size}); b[::4096] = b'x' * len(b[::4096]); "
                              "print('ready', flush=True); time.sleep(30)"], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        run = RunContext("r", {}, None)
        active = start_profilers(pm, build_registry(pm), "memory", {"interval": 0.01}, run=run)
        notify(pm, run, "jlce_run_start")
        notify(pm, run, "jlce_model_loaded")
        time.sleep(0.1)
        (section,) = notify(pm, run, "jlce_run_end")
        stop_profilers(pm, active, run=run)
    finally:
        child.kill()
        child.wait()
    assert section["profile"]["memory"]["process"]["sampled_peak_children_rss_bytes"] >= size


def test_the_documented_profiler_example_works(pm):
    text = (Path(__file__).resolve().parents[1] / "docs" / "profiling.md").read_text(encoding="utf-8")
    code = text.split("## Writing a profiler", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "profiling.md", "exec"), namespace)

    class Example:  # the snippet as a plugin module would be
        jlce_register_profilers = staticmethod(namespace["jlce_register_profilers"])

    pm.register(Example, name="example")
    run = RunContext("doc", {}, None)
    registry = build_registry(pm)
    assert registry.profilers["queue_depth"].default is False
    active = start_profilers(pm, registry, "queue_depth,timing", {}, run=run)
    notify(pm, run, "jlce_run_start")
    for _ in range(3):
        notify(pm, run, "jlce_after_batch", event=BatchEvent("loglikelihood", 1, 0.0))
    sections = merge_sections(notify(pm, run, "jlce_run_end"))
    stop_profilers(pm, active, run=run)
    assert sections["profile"]["queue_depth"] == {"batches": 3} and "timing" in sections["profile"]
    assert run.errors == []
