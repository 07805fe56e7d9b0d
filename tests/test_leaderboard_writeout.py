"""The leaderboard's five files appear together or not at all (jlce.atomicdir.write_folder): a full
disk while writing leaves the previous leaderboard whole, never index.html cut mid-tag."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from leaderboard_runs import write_run
from test_leaderboard_build import FAST, SMALL, small_tasks

from jlce.atomicdir import write_folder
from jlce.errors import UserError
from jlce.leaderboard.build import build_leaderboard, write_outputs

FILES = ["index.html", "leaderboard.csv", "leaderboard.json", "leaderboard.md", "leaderboard.tex"]


def _board(tmp_path: Path, n_models: int):
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "small.yaml").write_text(SMALL)
    rng = np.random.default_rng(0)
    runs = [write_run(tmp_path / "runs", f"model-{i:02d}", small_tasks(rng, 0.3 + 0.02 * i)) for i in range(n_models)]
    return build_leaderboard(runs, tmp_path / "small.yaml", **FAST)


@pytest.fixture()
def small_disk(tmp_path):
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root and mount for a small tmpfs")
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs")
    yield disk
    subprocess.run(["umount", str(disk)], capture_output=True)


def test_a_full_disk_leaves_the_previous_leaderboard_whole(tmp_path, small_disk):
    out = small_disk / "board"
    paths = write_outputs(_board(tmp_path, 3), out)
    assert sorted(p.name for p in paths) == FILES
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert before["index.html"].rstrip().endswith(b"</html>")
    big = _board(tmp_path / "big", 40)  # needs more room than is left
    with pytest.raises(UserError, match=r"cannot write the leaderboard to .*: No space left on device; any earlier "
                                        "leaderboard there is unchanged"):
        write_outputs(big, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(os.listdir(small_disk)) == ["board"]  # no staging folder left behind


def test_rewrites_replace_the_set_and_keep_foreign_files(tmp_path):
    out = tmp_path / "board"
    write_folder(out, {"index.html": "<html>1</html>", "leaderboard.csv": "a\n"})
    write_folder(out, {"index.html": "<html>2</html>", "leaderboard.csv": "b\n"})  # only ours there: swapped whole
    assert (out / "index.html").read_text() == "<html>2</html>" and sorted(os.listdir(tmp_path)) == ["board"]
    (out / "README.txt").write_text("the user's")
    write_folder(out, {"index.html": "<html>3</html>", "leaderboard.csv": "c\n"})  # a foreign file: kept
    assert (out / "README.txt").read_text() == "the user's" and (out / "leaderboard.csv").read_text() == "c\n"
    assert sorted(os.listdir(tmp_path)) == ["board"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="cannot write the leaderboard to"):
        write_outputs(_board(tmp_path / "b", 2), tmp_path / "file")
