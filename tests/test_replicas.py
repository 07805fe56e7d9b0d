"""Data-parallel replicas on a real local Ray cluster (2 CPUs): the same answers as one process,
a replica killed mid-run (SIGKILL of its process) loses and duplicates nothing, and an impossible
resource request fails at once."""

from __future__ import annotations

import json
import os
import signal

import pytest

from e2e_helpers import jlce, jlce_env
from jlce.replicas.units import plan_units
from jlce.requests import LoglikelihoodRequest

ray = pytest.importorskip("ray")
pytest.importorskip("torch")

RAY_ENV = {"RAY_raylet_start_wait_time_s": "300", "RAY_AUTH_MODE": "disabled"}


def _requests(n_items: int = 40, choices: int = 4) -> list[LoglikelihoodRequest]:
    return [LoglikelihoodRequest(context=f"質問{i}：日本の{'山' * (i % 7 + 1)}は？\n答え：", continuation=f"候補{j}{'川' * j}")
            for i in range(n_items) for j in range(choices)]


def test_units_keep_shared_contexts_together_largest_first():
    requests = _requests(30, 5)
    units = plan_units(requests, replicas=2)
    covered = sorted(i for unit in units for i in unit.indices)
    assert covered == list(range(len(requests)))  # every request once
    for unit in units:  # an item's choices never split across units
        contexts = {requests[i].context for i in unit.indices}
        assert all(sum(requests[i].context == c for i in unit.indices) == 5 for c in contexts)
    assert [u.chars for u in units] == sorted((u.chars for u in units), reverse=True)
    assert len(units) >= 2 * 2  # several units per replica: a fast replica takes more


def _samples(run) -> dict:
    return {p.stem: [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines()]
            for p in sorted((run / "samples").glob("*.jsonl"))}


def test_two_replicas_give_the_single_process_answers(tmp_path, tiny_model_dir):
    env = jlce_env(tmp_path / "cache", **RAY_ENV)
    args = ("run", "--model", str(tiny_model_dir), "--tasks", "jcommonsenseqa,jsquad", "--data", "fixture",
            "--dtype", "float32", "--no-cache", "-q")
    single = jlce(*args, "-o", str(tmp_path / "single"), env=env, timeout=900)
    assert single.returncode == 0, single.stderr[-3000:]
    double = jlce(*args, "-o", str(tmp_path / "double"), "--replicas", "2", env=env, timeout=900)
    assert double.returncode == 0, double.stderr[-3000:]
    one, two = _samples(tmp_path / "single"), _samples(tmp_path / "double")
    for row_a, row_b in zip(one["jcommonsenseqa"], two["jcommonsenseqa"]):
        assert row_a["pred_index"] == row_b["pred_index"]
        for a, b in zip(row_a["choices"], row_b["choices"]):  # per token: fp32 sums move with batching
            assert abs(a["logprob"] - b["logprob"]) <= 1e-5 * max(1, a["tokens"])
    assert [r["response"]["raw"] for r in one["jsquad"]] == [r["response"]["raw"] for r in two["jsquad"]]
    results = json.loads((tmp_path / "double" / "results.json").read_text(encoding="utf-8"))
    replicas = results["model"]["details"]["replicas"]
    assert replicas["count"] == 2 and replicas["ray_version"] == ray.__version__
    assert all(r["units"] > 0 for r in replicas["per_replica"])  # both replicas took work
    assert sum(r["requests"] for r in replicas["per_replica"]) == results["cache"]["misses"]


def _pids_when_up(backend, seconds: float = 300) -> list[int]:
    import time

    deadline = time.monotonic() + seconds
    while True:
        try:
            return backend.replica_pids()
        except ray.exceptions.ActorUnavailableError:  # still restarting
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def test_a_replica_killed_mid_run_loses_and_duplicates_nothing(tiny_model_dir, monkeypatch):
    from jlce.backend import BackendConfig
    from jlce.replicas.backend import ReplicaBackend
    from jlce.registry import get_registry
    from jlce.specs import resolve

    for key, value in RAY_ENV.items():
        monkeypatch.setenv(key, value)
    config = BackendConfig(model=str(tiny_model_dir), dtype="float32", batch_size=4)
    requests = _requests()
    backend = ReplicaBackend("transformers", config, replicas=2)
    try:
        victim = backend.replica_pids()[0]
        seen: list[int] = []
        answers = {}
        for pairs, _ in backend.loglikelihood(requests):
            if not seen:  # after the first unit: kill replica 0 while it holds units in flight
                os.kill(victim, signal.SIGKILL)
            seen.extend(i for i, _ in pairs)
            answers.update(pairs)
        assert sorted(seen) == list(range(len(requests)))  # nothing lost, nothing twice
        details = backend.describe()["replicas"]["per_replica"]
        assert details[0]["failures"] >= 1  # its unit(s) went back to the queue
        assert _pids_when_up(backend)[0] != victim  # Ray restarted the actor
    finally:
        backend.close()
    single = resolve(get_registry().get("backends", "transformers").factory)(config)
    expected = {i: r for pairs, _ in single.loglikelihood(requests) for i, r in pairs}
    for i, result in expected.items():
        assert abs(answers[i].logprob - result.logprob) <= 1e-5 * max(1, result.n_tokens)


def test_an_impossible_resource_request_fails_at_once(tmp_path, tiny_model_dir):
    env = jlce_env(tmp_path / "cache", **RAY_ENV)
    done = jlce("run", "--model", str(tiny_model_dir), "--tasks", "jcommonsenseqa", "--data", "fixture",
                "--replicas", "2", "--replica-resources", "GPU=1", "-o", str(tmp_path / "out"), "-q", env=env, timeout=600)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "needs 2 GPU" in done.stderr and "the Ray cluster has 0 GPU" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out" / "results.json").exists()


def test_driver_killed_mid_run_resumes_from_the_cache(tmp_path, tiny_model_dir):
    import subprocess
    import sys
    from pathlib import Path

    from pause_plugin import pause_env, wait_for_pause

    env = jlce_env(tmp_path / "cache", **RAY_ENV)
    args = ["run", "--model", str(tiny_model_dir), "--tasks", "jcommonsenseqa,jsquad", "--data", "fixture",
            "--dtype", "float32", "--replicas", "2", "-q", "-o", str(tmp_path / "run")]
    paused = {**env, **pause_env(tmp_path, "batch:3")}  # three units committed by the driver
    process = subprocess.Popen([sys.executable, "-m", "jlce", *args], env=paused,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        assert wait_for_pause(process, paused), "the run ended before its third unit"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
        stop = Path(sys.executable).parent / "ray"
        subprocess.run([str(stop), "stop", "--force"], capture_output=True, timeout=120, check=False)
    import sqlite3

    with sqlite3.connect(str(tmp_path / "cache" / "requests.sqlite")) as db:
        committed = db.execute("SELECT count(*) FROM answers").fetchone()[0]
    assert committed > 0
    resumed = jlce(*args, env=env, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    assert results["cache"]["hits"] == committed  # nothing committed was computed again
    assert results["cache"]["hits"] + results["cache"]["misses"] == 48  # 8 x 5 choices + 8 generations
