"""Data-parallel replicas on a real local Ray cluster (2 CPUs): the same answers as one process
(multiple choice, greedy and sampled generation), per-replica load in the timing profile and the
cluster in provenance, a replica killed mid-run (SIGKILL of its process) loses and duplicates
nothing, the driver killed mid-run resumes, and an impossible resource request fails at once."""

from __future__ import annotations

import json
import os
import signal

import pytest

from e2e_helpers import jlce, jlce_env, write_toy_tasks
from jlce.replicas.backend import public_address
from jlce.replicas.units import plan_units
from jlce.requests import LoglikelihoodRequest

ray = pytest.importorskip("ray")
pytest.importorskip("torch")

RAY_ENV = {"RAY_raylet_start_wait_time_s": "300", "RAY_AUTH_MODE": "disabled"}  # a loaded machine starts raylets slowly


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


def test_recorded_ray_addresses_carry_no_credentials():
    assert public_address("ray://user:s3cret@head.example:10001") == "ray://head.example:10001"
    assert public_address("admin:pw@10.0.0.5:6379") == "10.0.0.5:6379"
    assert public_address("ray://head:10001?token=abc#x") == "ray://head:10001"
    assert public_address("auto") == "auto" and public_address(None) is None


def _sampled_toy_task(directory):
    """toy_gen decoded at temperature 1 with 3 samples per item (per-sample seeds), with fixture data."""
    write_toy_tasks(directory, n_items=6)
    path = directory / "toy_gen.yaml"
    text = path.read_text(encoding="utf-8").replace("eval_split: test\n", "  fixture:\n    test: [toy.jsonl]\neval_split: test\n")
    path.write_text(text.replace("  max_new_tokens: 6\n", "  max_new_tokens: 6\n  repeats: 3\n  temperature: 1.0\n"), encoding="utf-8")
    return directory


def _samples(run) -> dict:
    return {p.stem: [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines()]
            for p in sorted((run / "samples").glob("*.jsonl"))}


def test_two_replicas_give_the_single_process_answers(tmp_path, tiny_model_dir):
    from jlce.resultschema import validate_results

    env = jlce_env(tmp_path / "cache", **RAY_ENV)
    args = ("run", "--model", str(tiny_model_dir), "--tasks", "jcommonsenseqa,jsquad,toy_gen", "--data", "fixture",
            "--include-path", str(_sampled_toy_task(tmp_path / "tasks")), "--dtype", "float32", "--no-cache", "-q")
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
    # sampled: each sample has its own seed, so the replica and unit it ran on do not matter
    sampled = [[(s["seed"], s["response"]["raw"]) for s in row["samples"]] for row in one["toy_gen"]]
    assert sampled == [[(s["seed"], s["response"]["raw"]) for s in row["samples"]] for row in two["toy_gen"]]
    assert len(sampled) == 6 and all(len(item) == 3 for item in sampled)
    assert len({text for item in sampled for _, text in item}) > 6  # temperature 1 really sampled
    results = validate_results(json.loads((tmp_path / "double" / "results.json").read_text(encoding="utf-8")), "double")
    replicas = results["model"]["details"]["replicas"]
    assert replicas["count"] == 2 and replicas["ray_version"] == ray.__version__
    assert all(r["units"] > 0 for r in replicas["per_replica"])  # both replicas took work
    assert sum(r["requests"] for r in replicas["per_replica"]) == results["cache"]["misses"] == 8 * 5 + 8 + 6 * 3
    # the timing profile: per-replica throughput and load, from the units' batch events
    load = results["profile"]["timing"]["replicas"]
    assert load["count"] == 2 and load["requests"] == results["cache"]["misses"]
    assert [r["requests"] for r in load["per_replica"]] == [r["requests"] for r in replicas["per_replica"]]
    assert sum(r["share"] for r in load["per_replica"]) == pytest.approx(1.0)
    assert load["units"] == sum(r["units"] for r in load["per_replica"]) == results["profile"]["timing"]["throughput"]["all"]["batches"]
    for row in load["per_replica"]:
        assert row["requests_per_s"] == pytest.approx(row["requests"] / row["busy_seconds"])
        assert 0 < row["utilization"] <= 1.0 and row["deaths"] == row["requeued"] == row["retried_units"] == 0
        assert sum(row["requests_by_kind"].values()) == row["requests"]
    assert 0 < load["balance"] <= 1.0
    # provenance: the cluster, without addresses of the machine
    cluster = results["provenance"]["cluster"]
    assert cluster["ray_version"] == ray.__version__ and cluster["address_source"] == "local" and cluster["address"] is None
    assert cluster["replicas"] == 2 and cluster["resources_per_replica"] == {"CPU": 1.0}
    node_ids = {node["node_id"] for node in cluster["nodes"]}
    assert {r["node_id"] for r in cluster["per_replica"]} <= node_ids
    assert all(node["resources"]["CPU"] >= 2 and not any(k.startswith("node:") for k in node["resources"])
               for node in cluster["nodes"])
    single_results = json.loads((tmp_path / "single" / "results.json").read_text(encoding="utf-8"))
    assert "cluster" not in single_results["provenance"] and "replicas" not in single_results["profile"]["timing"]


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
        assert details[0]["requeued"] >= 1 and details[0]["deaths"] == 1  # its unit(s) went back to the queue
        assert sum(r["retried_units"] for r in details) == details[0]["requeued"]  # and were finished once each
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
