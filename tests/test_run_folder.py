"""A run's output folder (jlce.rundir): unique and exclusive, checked before the model loads,
replaced only with --overwrite and then whole; task names that would share a samples file refused."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from e2e_helpers import jlce, jlce_env, write_toy_tasks
from pause_plugin import pause_env, release, wait_for_pause

from jlce.errors import UserError
from jlce.paths import check_unique_slugs
from jlce.rundir import new_run_id, prepare_run_folder


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory) -> Path:
    return write_toy_tasks(tmp_path_factory.mktemp("folder") / "tasks", n_items=6)


def _args(model: Path, toy_dir: Path, *extra: str) -> list[str]:
    return ["run", "--model", str(model), "--tasks", "toy_mc", "--include-path", str(toy_dir), "--batch-size", "4",
            "-q", *extra]


def _popen(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "jlce", *args], env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _one_clean_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_run_ids_of_one_second_differ_and_folders_are_exclusive(tmp_path):
    started = datetime(2026, 12, 2, 1, 32, 0, tzinfo=timezone.utc)
    ids = {new_run_id(started) for _ in range(200)}
    assert len(ids) == 200 and all(i.startswith("20261202T013200Z-") for i in ids)
    first = prepare_run_folder(None, tmp_path / "results" / "m", "20261202T013200Z-aaaaaa", overwrite=False)
    with pytest.raises(UserError, match="already exists"):  # the same id twice: never shared
        prepare_run_folder(None, tmp_path / "results" / "m", "20261202T013200Z-aaaaaa", overwrite=False)
    first.discard()
    assert not (tmp_path / "results").exists()  # a run that did not finish leaves no folders behind


def test_concurrent_runs_of_one_model_get_their_own_folders(tmp_path, toy_dir, tiny_model_dir):
    """Two real runs, both holding their folder at the same moment (paused at model load)."""
    env = jlce_env(tmp_path / "cache")
    envs = [{**env, **pause_env(tmp_path, "stage:model_load", tag=str(i))} for i in range(2)]
    processes = [_popen(_args(tiny_model_dir, toy_dir), e, tmp_path) for e in envs]
    try:
        assert all(wait_for_pause(p, e) for p, e in zip(processes, envs))
        for e in envs:
            release(e)
        outputs = [p.communicate(timeout=600) for p in processes]
    finally:
        for p in processes:
            p.kill()
    assert [p.returncode for p in processes] == [0, 0], outputs
    (model_folder,) = (tmp_path / "results").iterdir()  # results/<model slug>/
    folders = sorted(model_folder.iterdir())
    assert len(folders) == 2
    run_ids = set()
    for folder in folders:
        data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        assert data["run_id"] == folder.name and data["tasks"]["toy_mc"]["n_samples"] == 6
        assert len((folder / "samples" / "toy_mc.jsonl").read_text(encoding="utf-8").splitlines()) == 6
        run_ids.add(data["run_id"])
    assert len(run_ids) == 2
    printed = ["".join(out.split()) for out, _ in outputs]  # rich may wrap the printed path
    assert sorted(sum(folder.name in text for text in printed) for folder in folders) == [1, 1]  # each its own
    assert not list(model_folder.glob(".jlce-*"))


def test_concurrent_runs_into_one_output_dir_lose_nothing(tmp_path, toy_dir, tiny_model_dir):
    """Both runs find DIR empty at the start; the first to finish publishes, the other keeps its
    complete results beside it and says where."""
    env = jlce_env(tmp_path / "cache")
    out = tmp_path / "shared"
    envs = [{**env, **pause_env(tmp_path, "stage:model_load", tag=str(i))} for i in range(2)]
    processes = [_popen(_args(tiny_model_dir, toy_dir, "-o", str(out)), e, tmp_path) for e in envs]
    try:
        assert all(wait_for_pause(p, e) for p, e in zip(processes, envs))
        release(envs[0])
        first = processes[0].communicate(timeout=600)
        release(envs[1])
        second = processes[1].communicate(timeout=600)
    finally:
        for p in processes:
            p.kill()
    assert processes[0].returncode == 0, first
    assert processes[1].returncode == 2
    line = _one_clean_line(second[1])
    assert "received another run's results while this one ran" in line
    kept = Path(line.split("kept in ", 1)[1].split(" (", 1)[0])
    for folder in (out, kept):
        data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        assert len((folder / "samples" / "toy_mc.jsonl").read_text(encoding="utf-8").splitlines()) == data["tasks"]["toy_mc"]["n_samples"]
    assert json.loads((out / "results.json").read_text())["run_id"] != json.loads((kept / "results.json").read_text())["run_id"]


def test_existing_results_need_overwrite_which_replaces_the_whole_folder(tmp_path, toy_dir, tiny_model_dir):
    env = jlce_env(tmp_path / "cache")
    out = tmp_path / "run"
    assert jlce(*_args(tiny_model_dir, toy_dir, "-o", str(out)), env=env).returncode == 0
    (out / "samples" / "stale_task.jsonl").write_text('{"doc_id": 0}\n')  # e.g. from an older run with more tasks
    before = (out / "results.json").read_bytes()

    again = jlce(*_args(tiny_model_dir, toy_dir, "-o", str(out)), env=env)
    assert again.returncode == 2
    assert "already holds results; add --overwrite" in _one_clean_line(again.stderr)
    assert (out / "results.json").read_bytes() == before

    # while the overwriting run writes, DIR still holds the previous run, whole
    paused = {**env, **pause_env(tmp_path, "stage:writing")}
    process = _popen(_args(tiny_model_dir, toy_dir, "-o", str(out), "--overwrite"), paused, tmp_path)
    try:
        assert wait_for_pause(process, paused)
        assert (out / "results.json").read_bytes() == before and (out / "samples" / "stale_task.jsonl").exists()
        release(paused)
        _, err = process.communicate(timeout=600)
    finally:
        process.kill()
    assert process.returncode == 0, err
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert (out / "results.json").read_bytes() != before and data["cache"]["hits"] == 18
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["toy_mc.jsonl"]  # nothing stale beside it
    assert not list(tmp_path.glob(".jlce-*"))


def test_folder_without_results_is_never_replaced(tmp_path, toy_dir, tiny_model_dir):
    out = tmp_path / "notes"
    out.mkdir()
    (out / "thesis.tex").write_text("mine")
    result = jlce(*_args(tiny_model_dir, toy_dir, "-o", str(out), "--overwrite"), env=jlce_env(tmp_path / "cache"))
    assert result.returncode == 2 and "holds no JLCE results" in _one_clean_line(result.stderr)
    assert [p.name for p in out.iterdir()] == ["thesis.tex"]


def _readonly_dir(path: Path) -> Path:
    """A folder nobody may write to: a read-only tmpfs for root (who ignores permissions), else chmod."""
    path.mkdir()
    if os.geteuid() == 0:
        if shutil.which("mount") is None or subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(path)],
                                                          capture_output=True).returncode != 0:
            pytest.skip("running as root without mount: cannot make a read-only folder")
    else:
        path.chmod(0o555)
    return path


@pytest.mark.parametrize("case", ["under-a-file", "read-only", "name-too-long", "is-a-file"])
def test_bad_output_dir_is_refused_before_the_model_loads(tmp_path, toy_dir, case):
    if case == "under-a-file":
        (tmp_path / "file").write_text("x")
        out, says = tmp_path / "file" / "run", "cannot write there"
    elif case == "read-only":
        out, says = _readonly_dir(tmp_path / "ro") / "run", "cannot write there"
    elif case == "name-too-long":
        out, says = tmp_path / ("r" * 300), "cannot write there (File name too long)"
    else:  # click refuses it while parsing the options (a usage error)
        (tmp_path / "results.txt").write_text("x")
        result = jlce(*_args(tmp_path / "no-such-model", toy_dir, "-o", str(tmp_path / "results.txt")),
                      env=jlce_env(tmp_path / "cache"))
        assert result.returncode == 2 and "--output-dir" in result.stderr and "results.txt exists and is not a folder" in result.stderr and "Traceback" not in result.stderr
        return
    # a model that does not exist: had the model been loaded first, the error would be about it
    result = jlce(*_args(tmp_path / "no-such-model", toy_dir, "-o", str(out)), env=jlce_env(tmp_path / "cache"))
    try:
        assert result.returncode == 2
        line = _one_clean_line(result.stderr)
        assert line.startswith("jlce: error: --output-dir ") and str(out) in line and says in line, line
    finally:
        if case == "read-only" and os.geteuid() == 0:
            subprocess.run(["umount", str(tmp_path / "ro")], capture_output=True)


def _task(directory: Path, name: str) -> None:
    source = (directory / "toy_mc.yaml").read_text(encoding="utf-8")
    (directory / f"{name}.yaml").write_text(source.replace("task: toy_mc", f"task: {name}"), encoding="utf-8")


@pytest.mark.parametrize("names", [("dots..name", "dots.name"), ("a" * 80 + "_one", "a" * 80 + "_two"),
                                   ("Mixed.Case", "mixed.case")])
def test_task_names_sharing_a_samples_file_are_refused(tmp_path, names):
    tasks = write_toy_tasks(tmp_path / "tasks", n_items=3)
    for name in names:
        _task(tasks, name)
    result = jlce("run", "--model", str(tmp_path / "no-such-model"), "--tasks", ",".join(names), "--include-path",
                  str(tasks), "-o", str(tmp_path / "run"), "-q", env=jlce_env(tmp_path / "cache"))
    assert result.returncode == 2
    line = _one_clean_line(result.stderr)
    assert f"'{names[0]}' and '{names[1]}' would share the file name" in line
    assert not (tmp_path / "run").exists()
    check_unique_slugs(["toy_mc", "toy_gen", "dots.name"])  # distinct names pass
