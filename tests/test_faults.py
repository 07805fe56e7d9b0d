"""Faults survived with real processes: kill anywhere, concurrent runs, a full disk, a failing backend."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from e2e_helpers import assert_samples_match, jlce, jlce_env, samples, scores, write_toy_tasks
from pause_plugin import pause_env, wait_for_pause

TOTAL_REQUESTS = 30 * 3 + 30  # toy_mc (3 choices) + toy_gen, 30 items


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory) -> Path:
    return write_toy_tasks(tmp_path_factory.mktemp("faults") / "tasks", n_items=30)


def _args(model: Path, toy_dir: Path, out: Path, batch_size: int = 4) -> list[str]:
    return ["run", "--model", str(model), "--tasks", "toy_mc,toy_gen", "--include-path", str(toy_dir),
            "--batch-size", str(batch_size), "-o", str(out), "-q"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, toy_dir, tiny_model_dir) -> Path:
    base = tmp_path_factory.mktemp("reference")
    result = jlce(*_args(tiny_model_dir, toy_dir, base / "run"), env=jlce_env(base / "cache"))
    assert result.returncode == 0, result.stderr
    return base / "run"


def _integrity(cache: Path) -> tuple[str, int]:
    with sqlite3.connect(str(cache)) as db:
        return db.execute("PRAGMA integrity_check").fetchone()[0], db.execute("SELECT count(*) FROM answers").fetchone()[0]


# Where a SIGKILL lands, as points of progress (tests/pause_plugin.py), not times: the verdict does
# not depend on how fast the machine is. Before any answer, between batches of both request kinds,
# while scoring, while writing (all answers committed, results not yet published).
KILL_POINTS = ["stage:data_load", "stage:model_load", "stage:build_requests", "batch:1", "batch:3",
               "stage:inference:generate_until", "batch:7", "stage:scoring", "stage:writing"]


@pytest.mark.slow
def test_kill_at_every_point_of_progress_then_resume(tmp_path, toy_dir, tiny_model_dir, reference):
    """SIGKILL at each point, then the same command: results identical to an uninterrupted run,
    cache intact, nothing committed is recomputed, and no partial results are ever published."""
    committed_at = {}
    for trial, point in enumerate(KILL_POINTS):
        cache_dir = tmp_path / f"cache{trial}"
        out = tmp_path / f"run{trial}"
        env = jlce_env(cache_dir)
        paused = {**env, **pause_env(tmp_path, point)}
        process = subprocess.Popen([sys.executable, "-m", "jlce", *_args(tiny_model_dir, toy_dir, out)], env=paused,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert wait_for_pause(process, paused), f"the run ended before reaching {point}"
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        cache = cache_dir / "requests.sqlite"
        committed = 0
        if cache.exists():
            status, committed = _integrity(cache)
            assert status == "ok"
        assert not (out / "results.json").exists()  # results appear whole at the end, or not at all
        resumed = jlce(*_args(tiny_model_dir, toy_dir, out), env=env)
        assert resumed.returncode == 0, resumed.stderr
        data = json.loads((out / "results.json").read_text(encoding="utf-8"))
        assert data["cache"]["hits"] == committed, point
        assert data["cache"]["misses"] == TOTAL_REQUESTS - committed
        assert scores(out) == scores(reference)
        assert_samples_match(samples(out), samples(reference))
        assert not list(tmp_path.glob(".jlce-*"))  # the killed run's staging folder was cleared
        committed_at[point] = committed
    assert committed_at["stage:data_load"] == committed_at["stage:model_load"] == 0
    assert 0 < committed_at["batch:1"] < committed_at["batch:3"] < committed_at["batch:7"] < TOTAL_REQUESTS
    assert committed_at["stage:scoring"] == committed_at["stage:writing"] == TOTAL_REQUESTS


def test_two_runs_share_one_cache_and_data_dir(tmp_path, toy_dir, tiny_model_dir, tiny_qwen_model_dir, reference):
    env = jlce_env(tmp_path / "shared-cache", JLCE_DATA_DIR=str(tmp_path / "shared-data"))
    runs = {
        "same_a": _args(tiny_model_dir, toy_dir, tmp_path / "same_a"),
        "same_b": _args(tiny_model_dir, toy_dir, tmp_path / "same_b", batch_size=3),
        "other": _args(tiny_qwen_model_dir, toy_dir, tmp_path / "other"),
    }
    processes = {name: subprocess.Popen([sys.executable, "-m", "jlce", *args], env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True) for name, args in runs.items()}
    for name, process in processes.items():
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, (name, stderr)
    assert scores(tmp_path / "same_a") == scores(reference) == scores(tmp_path / "same_b")
    assert_samples_match(samples(tmp_path / "same_a"), samples(reference))
    other = json.loads((tmp_path / "other" / "results.json").read_text(encoding="utf-8"))
    assert other["cache"]["hits"] == 0  # the other model never reads the first model's answers
    status, rows = _integrity(tmp_path / "shared-cache" / "requests.sqlite")
    assert status == "ok" and rows == 2 * TOTAL_REQUESTS


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True).returncode == 0


def test_full_disk_gives_a_clear_error_and_keeps_earlier_results(tmp_path, toy_dir, tiny_model_dir):
    disk = tmp_path / "small-disk"
    if not _mount_tmpfs(disk, "256k"):
        pytest.skip("cannot mount a size-limited tmpfs here (needs root)")
    try:
        env = jlce_env(tmp_path / "cache")
        earlier = jlce("run", "--model", str(tiny_model_dir), "--tasks", "toy_mc", "--include-path", str(toy_dir),
                       "--limit", "2", "-o", str(disk / "run"), "-q", env=env)
        assert earlier.returncode == 0, earlier.stderr
        before = (disk / "run" / "results.json").read_bytes()
        free = shutil.disk_usage(disk).free
        (disk / "filler").write_bytes(b"\0" * max(0, free - 8192))
        full = jlce(*_args(tiny_model_dir, toy_dir, disk / "run"), "--overwrite", env=env)
        assert full.returncode == 1
        assert "no space left on device" in full.stderr and "Traceback" not in full.stderr
        assert (disk / "run" / "results.json").read_bytes() == before  # earlier results intact and readable
        json.loads(before)
        assert not [p for p in (disk / "run").rglob("*.tmp")] and not list(disk.glob(".jlce-*"))
        (disk / "filler").unlink()
        again = jlce(*_args(tiny_model_dir, toy_dir, disk / "run"), "--overwrite", env=env)
        assert again.returncode == 0, again.stderr
        data = json.loads((disk / "run" / "results.json").read_text(encoding="utf-8"))
        assert data["cache"]["misses"] == 0  # every answer computed before the disk filled was kept
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


FLAKY_PLUGIN = '''
from pathlib import Path
from jlce.plugins import hookimpl
from jlce.specs import BackendSpec

class FlakyBackend:
    """The real transformers backend, which raises after N batches the first time it is used."""

    def __init__(self, config):
        import dataclasses
        from jlce.backends.transformers.backend import TransformersBackend
        self.inner = TransformersBackend(dataclasses.replace(config, options={}))
        self.marker = Path(config.options["marker"])
        self.fail_after = int(config.options["fail_after"])
        self.name = "flaky"

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def loglikelihood(self, requests):
        for done, batch in enumerate(self.inner.loglikelihood(requests)):
            if done == self.fail_after and not self.marker.exists():
                self.marker.write_text("failed once")
                raise RuntimeError("device lost")
            yield batch

@hookimpl
def jlce_register_backends(register):
    register(BackendSpec("flaky", FlakyBackend, "fails once after N batches"))
'''


def test_backend_failure_mid_run_stops_clearly_and_resumes(tmp_path, toy_dir, tiny_model_dir):
    site = tmp_path / "site"
    (site / "flaky_ep-0.1.dist-info").mkdir(parents=True)
    (site / "flaky_ep-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: flaky_ep\nVersion: 0.1\n")
    (site / "flaky_ep-0.1.dist-info" / "entry_points.txt").write_text("[jlce]\nflaky_ep = flaky_ep_module\n")
    (site / "flaky_ep_module.py").write_text(textwrap.dedent(FLAKY_PLUGIN))
    env = jlce_env(tmp_path / "cache", PYTHONPATH=str(site))
    args = ["run", "--model", str(tiny_model_dir), "--backend", "flaky", "--tasks", "toy_mc", "--include-path", str(toy_dir),
            "--batch-size", "4", "--backend-arg", f"marker={tmp_path / 'marker'}", "--backend-arg", "fail_after=3",
            "-o", str(tmp_path / "run"), "-q"]
    failed = jlce(*args, env=env)
    assert failed.returncode == 1
    assert "backend 'flaky' (plugin 'flaky_ep') failed during loglikelihood: RuntimeError: device lost" in failed.stderr
    assert "run the same command again to resume" in failed.stderr and "Traceback" not in failed.stderr
    resumed = jlce(*args, env=env)
    assert resumed.returncode == 0, resumed.stderr
    data = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    assert data["cache"]["hits"] > 0 and data["cache"]["hits"] + data["cache"]["misses"] == 90
