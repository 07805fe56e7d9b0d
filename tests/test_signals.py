"""Ctrl-C and SIGTERM on a real `jlce run` subprocess, sent at a point of progress (pause_plugin),
never at a time: exit 130 / 143, the resume hint, no traceback, nothing committed lost, output
folder untouched; the same command then resumes from the cache."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from e2e_helpers import jlce, jlce_env, scores, write_toy_tasks
from pause_plugin import pause_env, wait_for_pause

TOTAL = 12 * 3  # toy_mc: 12 items, 3 choices


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory) -> Path:
    return write_toy_tasks(tmp_path_factory.mktemp("signals") / "tasks", n_items=12)


def _args(model: Path, toy_dir: Path, out: Path) -> list[str]:
    return ["run", "--model", str(model), "--tasks", "toy_mc", "--include-path", str(toy_dir), "--batch-size", "4",
            "-o", str(out), "-q"]


def _rows(cache: Path) -> int:
    with sqlite3.connect(str(cache)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return db.execute("SELECT count(*) FROM answers").fetchone()[0]


@pytest.mark.parametrize(("sig", "code", "says", "at"), [
    (signal.SIGINT, 130, "jlce: interrupted (Ctrl-C);", "batch:1"),
    (signal.SIGTERM, 143, "jlce: terminated (SIGTERM);", "batch:1"),
    (signal.SIGTERM, 143, "jlce: terminated (SIGTERM);", "stage:model_load"),
])
def test_signal_stops_cleanly_and_the_same_command_resumes(tmp_path, toy_dir, tiny_model_dir, sig, code, says, at):
    env = jlce_env(tmp_path / "cache")
    out = tmp_path / "run"
    paused = {**env, **pause_env(tmp_path, at)}
    process = subprocess.Popen([sys.executable, "-m", "jlce", *_args(tiny_model_dir, toy_dir, out)], env=paused,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for_pause(process, paused)
        cache = tmp_path / "cache" / "requests.sqlite"
        committed = _rows(cache)  # what the finished batches stored
        assert (committed > 0) == at.startswith("batch:")
        process.send_signal(sig)
        _, err = process.communicate(timeout=300)
    finally:
        process.kill()
    assert process.returncode == code, err
    assert err.strip() == f"{says} finished batches are cached: run the same command again to resume"
    assert _rows(cache) == committed  # every finished batch kept, the cache intact
    assert not out.exists() and not list(tmp_path.glob(".jlce-*"))  # no partial results anywhere

    resumed = jlce(*_args(tiny_model_dir, toy_dir, out), env=env)
    assert resumed.returncode == 0, resumed.stderr
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert data["cache"]["hits"] == committed and data["cache"]["misses"] == TOTAL - committed
    assert scores(out)["toy_mc"]["n"] == 12
