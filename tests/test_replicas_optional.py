"""Ray stays optional: `jlce run --help` and a single-process run never import it, and a machine
without it runs JLCE unchanged; `--replicas 2` there says which extra to install. No Ray starts
here (these run where `ray` is not installed too)."""

from __future__ import annotations

import json
import subprocess
import sys

from e2e_helpers import jlce_env

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
