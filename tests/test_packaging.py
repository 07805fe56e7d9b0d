"""A wheel carries tasks, backends, plugins and every data file under `jlce.`; installed in a fresh
virtual environment it runs, builds a leaderboard and a report; the example plugin installs and runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from e2e_helpers import REPO, jlce_env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(REPO)],
                   check=True, capture_output=True, timeout=600)
    (path,) = out.glob("jlce-*.whl")
    return path


def test_wheel_has_everything_under_the_jlce_namespace(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    assert top_level == {"jlce", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}
    for expected in ("jlce/backends/transformers/plugin.py", "jlce/plugins/provenance.py",
                     "jlce/builtin_tasks/jcommonsenseqa/jcommonsenseqa.yaml",
                     "jlce/builtin_tasks/jcommonsenseqa/fixtures/valid.jsonl", "jlce/hookspecs.py"):
        assert expected in names, expected


def _package_dirs() -> dict[str, Path]:
    """Installed package name -> source folder, as pyproject.toml maps them."""
    import tomllib

    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    return {package: REPO / folder for package, folder in setuptools["package-dir"].items()}


# packages mapped onto a folder that holds other things too: only these files are the package
ONLY = {"jlce.schemas": "*.schema.json"}


def _source_files() -> dict[str, Path]:
    """Every file of the source packages (git-tracked or new, not ignored) -> its path in the wheel."""
    files: dict[str, Path] = {}
    for package, folder in _package_dirs().items():
        listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", ONLY.get(package, ".")],
                                cwd=folder, capture_output=True, text=True, check=True).stdout.splitlines()
        for relative in listed:
            if package in ONLY and "/" in relative:
                continue
            if (folder / relative).is_file():  # a file deleted in the working tree is still "cached"
                files[package.replace(".", "/") + "/" + relative] = folder / relative
    return files


def test_wheel_holds_every_file_of_the_source_packages(wheel):
    """Every non-Python file (templates, task YAML and fixtures, corpora, leaderboard definitions,
    py.typed) and every module of the source tree is in the wheel, at its installed path."""
    names = set(zipfile.ZipFile(wheel).namelist())
    source = _source_files()
    non_python = sorted(path for path in source if not path.endswith(".py"))
    assert "jlce/leaderboard/leaderboard.html.j2" in non_python and "jlce/py.typed" in non_python
    assert len(non_python) > 60  # the inventory really covers the task fixtures
    missing = sorted(set(source) - names)
    assert not missing, f"{len(missing)} source file(s) missing from the wheel: {missing}"


@pytest.fixture(scope="module")
def fresh_venv(wheel, tmp_path_factory) -> Path:
    """A new virtual environment with the wheel installed as a user installs it (`pip install`).
    Offline: its dependencies (pydantic, scipy, matplotlib, ...) are those of the test
    environment, made visible through a .pth file; JLCE itself comes only from the wheel."""
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    dependencies = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    (site / "_test_dependencies.pth").write_text("\n".join(dependencies) + "\n", encoding="utf-8")
    installed = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--force-reinstall", "-q", str(wheel)],
                               capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr
    return venv


@pytest.mark.slow
def test_the_installed_wheel_builds_a_leaderboard_and_a_report(fresh_venv, tmp_path):
    """The README's non-editable install: `jlce run`, `jlce leaderboard build` (the HTML template is
    package data) and `jlce report`, each from the fresh environment's `jlce` command."""
    jlce_command = fresh_venv / "bin" / "jlce"
    env = jlce_env(tmp_path / "cache")
    env.pop("PYTHONPATH", None)
    where = subprocess.run([str(fresh_venv / "bin" / "python"), "-c", "import jlce, jlce.leaderboard; print(jlce.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, check=True)
    assert where.stdout.strip().startswith(str(fresh_venv)), where.stdout

    def jlce(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([str(jlce_command), *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
        assert done.returncode == 0, (args, done.stderr[-3000:])
        return done

    for model in ("model-a", "model-b"):
        jlce("run", "--model", model, "--backend", "dummy", "--tasks", "jcommonsenseqa,jnli", "--data", "fixture",
             "-q", "-o", f"runs/{model}", "--profile", "none")
    (tmp_path / "board.yaml").write_text(BOARD, encoding="utf-8")
    jlce("leaderboard", "build", "runs/model-a", "runs/model-b", "--definition", "board.yaml", "-o", "site",
         "--draws", "200", "--permutations", "200")
    page = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "model-a" in page and "JCommonsenseQA" in page
    board = json.loads((tmp_path / "site" / "leaderboard.json").read_text(encoding="utf-8"))
    assert {entry["model"] for entry in board["overall"]["entries"]} == {"model-a", "model-b"}
    jlce("report", "runs/model-a", "runs/model-b", "-o", "paper")
    assert (tmp_path / "paper" / "tables.tex").is_file() and (tmp_path / "paper" / "scores.png").stat().st_size > 0


BOARD = """\
name: wheel-check
version: "1"
title: Wheel check
normalize: chance
level: 0.95
categories:
  semantic: {weight: 1.0, title: Semantic understanding}
tasks:
  jcommonsenseqa: {category: semantic, metric: acc, chance: 0.2, title: JCommonsenseQA}
  jnli: {category: semantic, metric: acc, chance: 0.3333333333, title: JNLI}
"""


def _installed_env(target: Path, cache: Path) -> dict[str, str]:
    env = jlce_env(cache)
    env["PYTHONPATH"] = str(target)
    return env


def test_installed_wheel_lists_tasks_and_runs_demo_offline(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=600)
    env = _installed_env(target, tmp_path / "cache")
    where = subprocess.run([sys.executable, "-c", "import jlce, jlce.backends, jlce.builtin_tasks; print(jlce.__file__, jlce.builtin_tasks.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, check=True)
    assert all(path.startswith(str(target)) for path in where.stdout.split())
    listed = subprocess.run([sys.executable, "-m", "jlce", "ls", "tasks"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert listed.returncode == 0 and "jcommonsenseqa" in listed.stdout
    run = subprocess.run([sys.executable, "-m", "jlce", "run", "--model", "jlce-tiny", "--tasks", "jcommonsenseqa",
                          "--data", "fixture", "--limit", "2", "-q", "-o", str(tmp_path / "out")],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert run.returncode == 0, run.stderr
    assert json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))["tasks"]["jcommonsenseqa"]["n_samples"] == 2


def test_example_plugin_package_adds_a_task_and_a_metric(tmp_path, tiny_model_dir):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q", "--target", str(target),
                    str(REPO / "examples" / "jlce-example-plugin")], check=True, capture_output=True, timeout=600)
    env = jlce_env(tmp_path / "cache")
    env["PYTHONPATH"] = str(target) + os.pathsep + env.get("PYTHONPATH", "")
    plugins = subprocess.run([sys.executable, "-m", "jlce", "ls", "plugins"], capture_output=True, text=True, env=env)
    assert "example" in plugins.stdout and "jlce_register_metrics" in plugins.stdout
    run = subprocess.run([sys.executable, "-m", "jlce", "run", "--model", str(tiny_model_dir), "--tasks", "example_katakana",
                          "-q", "-o", str(tmp_path / "out")], capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr
    results = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    task = results["tasks"]["example_katakana"]
    assert task["n_samples"] == 4 and task["data_source"] == "packaged" and task["num_fewshot"] == 2
    assert set(task["metrics"]) == {"prefix_match", "exact_match"}
    disabled = subprocess.run([sys.executable, "-m", "jlce", "show", "task", "example_katakana"], capture_output=True, text=True,
                              env={**env, "JLCE_DISABLE_PLUGINS": "example"})
    assert disabled.returncode == 2 and "unknown task or group 'example_katakana'" in disabled.stderr
