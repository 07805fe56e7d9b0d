"""`jlce run` end to end in real processes: outputs, request cache, SIGKILL and resume."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from e2e_helpers import assert_samples_match, jlce, jlce_env, samples, scores, write_toy_tasks


def _cached_rows(cache: Path) -> int:
    if not cache.exists():
        return 0
    try:
        with sqlite3.connect(str(cache), timeout=5) as db:
            return db.execute("SELECT count(*) FROM answers").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.fixture()
def toy_dir(tmp_path) -> Path:
    return write_toy_tasks(tmp_path / "tasks")


def test_run_writes_results_and_samples(tmp_path, toy_dir, tiny_model_dir):
    env = jlce_env(tmp_path / "cache")
    out = tmp_path / "run"
    result = jlce("run", "--model", str(tiny_model_dir), "--tasks", "toy_mc,toy_gen", "--include-path", str(toy_dir),
                  "--limit", "12", "--batch-size", "4", "-o", str(out), "-q", env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert data["schema_version"] == "1.0" and data["model"]["name"] == str(tiny_model_dir)
    mc, gen = data["tasks"]["toy_mc"], data["tasks"]["toy_gen"]
    assert mc["n_samples"] == gen["n_samples"] == 12
    assert 0.0 <= mc["metrics"]["acc"]["value"] <= 1.0 and len(mc["metrics"]["acc"]["ci95"]) == 2
    assert len(mc["definition_hash"]) == 64 and mc["version"] == "1"
    rows = samples(out)
    assert len(rows["toy_mc"]) == 12 and len(rows["toy_mc"][0]["choices"]) == 3
    acc = sum(row["metrics"]["acc"] for row in rows["toy_mc"]) / 12
    assert acc == pytest.approx(mc["metrics"]["acc"]["value"])
    assert {"raw", "filtered"} <= set(rows["toy_gen"][0]["response"])
    assert data["cache"]["misses"] == 12 * 3 + 12 and data["cache"]["hits"] == 0
    assert "JLCE results" in result.stdout
    import jsonschema

    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    docs = Path(__file__).resolve().parents[1] / "docs"
    schema = json.loads((docs / "results.schema.json").read_text(encoding="utf-8"))
    profiling = json.loads((docs / "profiling.schema.json").read_text(encoding="utf-8"))
    base = schema["$id"].rsplit("/", 1)[0]
    registry = Registry().with_resource(f"{base}/profiling.schema.json", DRAFT202012.create_resource(profiling))
    jsonschema.Draft202012Validator(schema, registry=registry).validate(data)
    assert set(data["profile"]) >= {"timing", "memory", "kvcache", "tokenizer_stats"} and data["provenance"]["model"]


def test_same_command_again_is_served_from_cache(tmp_path, toy_dir, tiny_model_dir):
    env = jlce_env(tmp_path / "cache")
    common = ["run", "--model", str(tiny_model_dir), "--tasks", "toy_mc", "--include-path", str(toy_dir), "--limit", "8", "-q"]
    assert jlce(*common, "-o", str(tmp_path / "a"), env=env).returncode == 0
    assert jlce(*common, "-o", str(tmp_path / "b"), env=env).returncode == 0
    second = json.loads((tmp_path / "b" / "results.json").read_text(encoding="utf-8"))
    assert {k: second["cache"][k] for k in ("hits", "misses", "by_kind", "policy", "other_engine")} == {
        "hits": 24, "misses": 0, "by_kind": {"loglikelihood": {"requests": 24, "hits": 24, "misses": 0}}, "policy": "reuse",
        "other_engine": 0}
    assert second["cache"]["engine"]["torch"] and second["cache"]["engine"]["transformers"]
    assert scores(tmp_path / "a") == scores(tmp_path / "b")
    assert samples(tmp_path / "a") == samples(tmp_path / "b")


def test_second_model_never_reads_first_models_answers(tmp_path, toy_dir, tiny_model_dir, tiny_qwen_model_dir):
    env = jlce_env(tmp_path / "cache")
    common = ["run", "--tasks", "toy_mc", "--include-path", str(toy_dir), "--limit", "8", "-q"]
    assert jlce(*common, "--model", str(tiny_model_dir), "-o", str(tmp_path / "a"), env=env).returncode == 0
    result = jlce(*common, "--model", str(tiny_qwen_model_dir), "-o", str(tmp_path / "b"), env=env)
    assert result.returncode == 0, result.stderr
    second = json.loads((tmp_path / "b" / "results.json").read_text(encoding="utf-8"))
    assert second["cache"]["hits"] == 0 and second["cache"]["misses"] == 24
    first = samples(tmp_path / "a")["toy_mc"][0]["choices"]
    other = samples(tmp_path / "b")["toy_mc"][0]["choices"]
    assert [c["logprob"] for c in first] != [c["logprob"] for c in other]


def test_sigkill_then_same_command_resumes_with_identical_results(tmp_path, toy_dir, tiny_model_dir):
    reference_env = jlce_env(tmp_path / "cache-reference")
    args = ["run", "--model", str(tiny_model_dir), "--tasks", "toy_mc,toy_gen", "--include-path", str(toy_dir),
            "--batch-size", "1", "-q"]
    reference = jlce(*args, "-o", str(tmp_path / "reference"), env=reference_env)
    assert reference.returncode == 0, reference.stderr
    total = 60 * 3 + 60

    cache_dir = tmp_path / "cache"
    env = jlce_env(cache_dir)
    process = subprocess.Popen([sys.executable, "-m", "jlce", *args, "-o", str(tmp_path / "killed")], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cache = cache_dir / "requests.sqlite"
    deadline = time.time() + 300
    while _cached_rows(cache) < 30 and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = _cached_rows(cache)
    assert 30 <= done < total, f"the kill must land mid-run (cached {done} of {total})"
    assert not (tmp_path / "killed" / "results.json").exists()

    resumed = jlce(*args, "-o", str(tmp_path / "killed"), env=env)
    assert resumed.returncode == 0, resumed.stderr
    data = json.loads((tmp_path / "killed" / "results.json").read_text(encoding="utf-8"))
    assert data["cache"]["hits"] == done  # nothing that was cached is recomputed
    assert data["cache"]["misses"] == total - done
    assert scores(tmp_path / "killed") == scores(tmp_path / "reference")
    assert samples(tmp_path / "killed") == samples(tmp_path / "reference")


def test_embedded_demo_model_runs_offline(tmp_path):
    env = jlce_env(tmp_path / "cache")
    result = jlce("run", "--model", "jlce-tiny", "--tasks", "jcommonsenseqa", "--data", "fixture", "--limit", "4",
                  "-o", str(tmp_path / "demo"), "-q", env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "demo" / "results.json").read_text(encoding="utf-8"))
    assert data["model"]["name"] == "jlce-tiny" and data["tasks"]["jcommonsenseqa"]["data_source"] == "fixture"
    assert data["tasks"]["jcommonsenseqa"]["n_samples"] == 4


def test_cli_errors_are_short_and_exit_2(tmp_path, toy_dir):
    env = jlce_env(tmp_path / "cache")
    cases = [
        (["run", "--model", "x", "--tasks", "jcommonsensqa"], "did you mean 'jcommonsenseqa'"),
        (["run", "--model", "x", "--tasks", "jcommonsenseqa", "--batch-size", "zero"], "--batch-size"),
        (["run", "--model", "x", "--tasks", "jcommonsenseqa", "--backend", "transformer"], "did you mean 'transformers'"),
        (["run", "--model", "x", "--tasks", "toy_mc", "--include-path", str(toy_dir), "--backend-arg", "novalue"], "KEY=VALUE"),
        (["show", "task", "nope"], "unknown task or group 'nope'"),
        (["ls", "nothing"], "No such command"),
    ]
    for args, expected in cases:
        result = jlce(*args, env=env)
        assert result.returncode == 2, (args, result.stderr)
        assert expected in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
