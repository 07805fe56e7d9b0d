"""The request cache on real SQLite files: checked on open (damaged, not a database, read-only,
each said plainly), engine versions recorded with each answer (`--cache-policy`), and the weights
probe identity of remote models (jlce.identity)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from e2e_helpers import jlce, jlce_env, write_toy_tasks

from jlce.cache import RequestCache, request_key
from jlce.errors import UserError
from jlce.identity import MAX_TOLERANCE, MEAN_TOLERANCE
from jlce.requests import LoglikelihoodRequest, LoglikelihoodResult, result_to_dict

REQUESTS = [LoglikelihoodRequest(f"質問{i}の答えは", f"選択肢{i % 5}") for i in range(400)]
ANSWERS = [LoglikelihoodResult(-1.0 - i / 7, i % 3 == 0, 2 + i % 4) for i in range(400)]
ENGINE_A = {"torch": "2.13.0", "torch_build": "cpu", "transformers": "5.19.0", "device": "cpu"}
ENGINE_B = {**ENGINE_A, "transformers": "5.20.0"}


def _filled(path: Path, engine=ENGINE_A) -> Path:
    cache = RequestCache(path, engine=engine)
    cache.put_many("model-a", zip(REQUESTS, ANSWERS))
    cache.close()
    return path


def _one_clean_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_a_damaged_cache_is_refused_on_open_and_left_as_it_was(tmp_path):
    path = _filled(tmp_path / "requests.sqlite")
    with sqlite3.connect(str(path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = db.execute("PRAGMA page_size").fetchone()[0]
        pages = db.execute("PRAGMA page_count").fetchone()[0]
    assert pages > 8
    with open(path, "r+b") as handle:  # a torn write / bad sector: garbage over a b-tree page in the middle
        handle.seek(page * (pages // 2))
        handle.write(bytes(range(256)) * (page // 256))
    damaged = path.read_bytes()
    with pytest.raises(UserError, match=r"request cache .* is damaged .*move it away .* or run with --no-cache"):
        RequestCache(path)
    assert path.read_bytes() == damaged  # nothing written to it


def test_not_a_database_and_a_directory_are_named(tmp_path):
    (tmp_path / "junk.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(UserError, match="is unreadable: not an SQLite database"):
        RequestCache(tmp_path / "junk.sqlite")
    (tmp_path / "dir.sqlite").mkdir()
    with pytest.raises(UserError, match="is a directory"):
        RequestCache(tmp_path / "dir.sqlite")


@pytest.fixture()
def readonly_cache(tmp_path):
    """A valid cache that cannot be written: on a read-only tmpfs for root (root ignores file
    permissions), else a read-only file and folder."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() == 0:
        if shutil.which("mount") is None or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)],
                                                          capture_output=True).returncode != 0:
            pytest.skip("running as root without mount")
        _filled(folder / "requests.sqlite")
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        yield folder / "requests.sqlite"
        subprocess.run(["umount", str(folder)], capture_output=True)
    else:
        _filled(folder / "requests.sqlite")
        (folder / "requests.sqlite").chmod(0o444)
        folder.chmod(0o555)
        yield folder / "requests.sqlite"
        folder.chmod(0o755)


def test_a_read_only_cache_is_called_read_only(readonly_cache, tmp_path):
    with pytest.raises(UserError, match="is read-only .*make it writable, choose another file with --cache-path, or run with --no-cache"):
        RequestCache(readonly_cache)
    tasks = write_toy_tasks(tmp_path / "tasks", n_items=3)
    result = jlce("run", "--model", str(tmp_path / "no-such-model"), "--tasks", "toy_mc", "--include-path", str(tasks),
                  "--cache-path", str(readonly_cache), "-o", str(tmp_path / "run"), "-q", env=jlce_env(tmp_path / "cache"))
    assert result.returncode == 2 and "is read-only" in _one_clean_line(result.stderr)


def test_engine_versions_are_recorded_and_strict_refuses_other_engines(tmp_path):
    path = _filled(tmp_path / "requests.sqlite")
    with sqlite3.connect(str(path)) as db:
        stored = {json.loads(e) == ENGINE_A for (e,) in db.execute("SELECT DISTINCT engine FROM answers")}
    assert stored == {True}

    same = RequestCache(path, engine=ENGINE_A)
    assert len(same.get_many("model-a", REQUESTS)) == 400 and same.stats()["other_engine"] == 0
    reuse = RequestCache(path, engine=ENGINE_B)  # default policy: answers survive an engine upgrade, counted
    got = reuse.get_many("model-a", REQUESTS)
    assert [got[i] for i in range(400)] == ANSWERS and reuse.stats() == {
        "policy": "reuse", "engine": ENGINE_B, "other_engine": 400, "refused_other_engine": 0}
    strict = RequestCache(path, policy="strict", engine=ENGINE_B)
    assert strict.get_many("model-a", REQUESTS) == {} and strict.stats()["refused_other_engine"] == 400
    strict.put_many("model-a", zip(REQUESTS[:10], ANSWERS[:10]))  # recomputed: now from engine B
    again = RequestCache(path, policy="strict", engine=ENGINE_B)
    assert sorted(again.get_many("model-a", REQUESTS)) == list(range(10))
    with pytest.raises(UserError, match="--cache-policy must be one of reuse, strict"):
        RequestCache(path, policy="lenient")


def test_a_cache_from_before_engine_versions_is_migrated(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(str(path)) as db:  # the schema of JLCE 0.1
        db.executescript("CREATE TABLE answers (key TEXT PRIMARY KEY, model TEXT NOT NULL, kind TEXT NOT NULL, "
                         "answer TEXT NOT NULL, created REAL NOT NULL);")
    with sqlite3.connect(str(path)) as db:  # rows as 0.1 wrote them
        db.executemany("INSERT INTO answers VALUES (?, ?, ?, ?, ?)",
                       [(request_key("model-a", r), "model-a", r.kind, json.dumps(result_to_dict(a)), 0.0)
                        for r, a in zip(REQUESTS[:5], ANSWERS[:5])])
    cache = RequestCache(path, engine=ENGINE_A)
    assert len(cache.get_many("model-a", REQUESTS[:5])) == 5 and cache.other_engine == 5  # engine unknown
    assert RequestCache(path, policy="strict", engine=ENGINE_A).get_many("model-a", REQUESTS[:5]) == {}


def test_weights_probe_identity_tolerates_noise_and_catches_new_weights(tmp_path):
    cache = RequestCache(tmp_path / "requests.sqlite")
    probe = [-2.5, -0.75, -4.0, -1.25, -6.5, -0.5, -3.0, -1.75]
    first = cache.weights_identity("base", probe)
    jitter = [v + (MEAN_TOLERANCE / 2) * (-1) ** i for i, v in enumerate(probe)]  # same weights, noisier server
    assert cache.weights_identity("base", jitter) == first
    swapped = [v + 3 * MAX_TOLERANCE * (i % 2) for i, v in enumerate(probe)]  # other weights
    second = cache.weights_identity("base", swapped)
    assert second != first
    assert cache.weights_identity("base", probe) == first and cache.weights_identity("base", swapped) == second
    assert cache.weights_identity("base", probe[:-1]) not in (first, second)  # another tokenizer
    assert cache.weights_identity("other-base", probe) == first  # ids are per fingerprint; equal probes, equal id
