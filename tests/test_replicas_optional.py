"""Ray stays optional: `jlce run --help` and a single-process run never import it, and a machine
without it runs JLCE unchanged; `--replicas 2` there says which extra to install. The timing
profile's per-replica section from a sequence of replica batch events. No Ray starts here (these
run where `ray` is not installed too)."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema

from e2e_helpers import REPO, jlce_env

# `ray` made unimportable (as on a machine without the extra), then the real CLI
WITHOUT_RAY = (
    "import runpy, sys\n"
    "sys.modules['ray'] = None\n"
    "sys.argv = ['jlce', *sys.argv[1:]]\n"
    "try:\n"
    "    runpy.run_module('jlce', run_name='__main__')\n"
    "finally:\n"
    "    print('HEAVY', sorted(m for m in ('ray', 'torch', 'vllm') if sys.modules.get(m) is not None), file=sys.stderr)\n"
)


def _jlce_without_ray(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WITHOUT_RAY, *args], capture_output=True, text=True, env=env, timeout=300)


def test_run_help_imports_neither_ray_nor_torch(tmp_path):
    done = _jlce_without_ray("run", "--help", env=jlce_env(tmp_path / "cache"))
    assert done.returncode == 0, done.stderr
    assert "--replicas" in done.stdout and "--ray-address" in done.stdout
    assert "HEAVY []" in done.stderr


def test_without_ray_a_run_is_unchanged_and_replicas_name_the_extra(tmp_path):
    env = jlce_env(tmp_path / "cache")
    args = ("run", "--model", "toy", "--backend", "dummy", "--tasks", "jcommonsenseqa", "--data", "fixture", "-q")
    single = _jlce_without_ray(*args, "-o", str(tmp_path / "single"), env=env)
    assert single.returncode == 0, single.stderr
    assert "HEAVY []" in single.stderr  # one process: Ray is never imported
    results = json.loads((tmp_path / "single" / "results.json").read_text(encoding="utf-8"))
    assert "replicas" not in results["model"].get("details", {}) and "cluster" not in results["provenance"]
    assert "replicas" not in results["profile"]["timing"]
    many = _jlce_without_ray(*args, "--replicas", "2", "-o", str(tmp_path / "many"), env=env)
    assert many.returncode == 2, many.stderr
    assert "--replicas needs Ray: pip install 'jlce[ray]'" in many.stderr and "Traceback" not in many.stderr
    assert not (tmp_path / "many" / "results.json").exists()


def test_timing_profile_reports_each_replicas_load_and_failures():
    from jlce.events import BatchEvent, RunContext, StageEvent
    from jlce.plugins.timing import TimingProfiler

    clock = iter(float(t) for t in range(100))
    profiler = TimingProfiler(clock=lambda: next(clock))
    run = RunContext("r", {}, None)
    profiler.jlce_run_start(run)
    profiler.jlce_stage_start(run, StageEvent("inference:loglikelihood", None))
    units = [(0, 12, 2.0, 1), (1, 8, 1.0, 1), (0, 12, 2.0, 2), (1, 8, 2.0, 1)]  # replica, requests, seconds, tries
    for replica, size, seconds, tries in units:
        profiler.jlce_after_batch(run, BatchEvent("loglikelihood", size, seconds, prompt_tokens=10 * size,
                                                  extra={"replica": replica, "unit": 0, "tries": tries}))
    profiler.jlce_after_batch(run, BatchEvent("generate_until", 4, 1.0))  # no replica: not counted per replica
    profiler.jlce_stage_end(run, StageEvent("inference:loglikelihood", None, 0.0))
    health = [{"replica": n, "host": "h", "requeued": r, "restarts": r, "timeouts": 0, "deaths": r, "lost": False}
              for n, r in ((0, 0), (1, 1), (2, 2))]  # replica 2 died twice before finishing anything
    full = profiler.report(health)
    jsonschema.validate({"profile": {"timing": full}}, json.loads((REPO / "docs" / "profiling.schema.json").read_text(encoding="utf-8")))
    report = full["replicas"]
    inference = report["inference_seconds"]
    assert inference > 0 and report["count"] == 3 and report["requests"] == 40 and report["units"] == 4
    zero, one, two = report["per_replica"]
    assert (zero["units"], zero["requests"], zero["busy_seconds"], zero["retried_units"]) == (2, 24, 4.0, 1)
    assert zero["requests_per_s"] == 6.0 and zero["share"] == 0.6 and zero["utilization"] == 4.0 / inference
    assert zero["prompt_tokens"] == 240 and zero["requests_by_kind"] == {"loglikelihood": 24}
    assert (one["requests"], one["requests_per_s"], one["share"], one["deaths"], one["requeued"]) == (16, 16 / 3, 0.4, 1, 1)
    assert (two["units"], two["requests_per_s"], two["share"], two["deaths"], two["lost"]) == (0, None, 0.0, 2, False)
    assert report["balance"] == 0.0  # one replica did nothing
    assert "replicas" not in TimingProfiler().report()  # a single process has no such section
