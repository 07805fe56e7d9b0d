"""Start-up cost of the CLI: median wall time of `jlce --help`, `jlce ls tasks` and `jlce ls commands`
(which loads every plugin, as a command that is not built in does), and proof that
importing the CLI does not import torch. Optionally compares with lm-eval when it is installed.

    python benchmarks/startup.py [--runs 7] [--tasks-dir DIR]

`--tasks-dir` adds a directory (e.g. 2,000 generated task files) to show that listing stays fast.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def median_seconds(command: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def make_many_tasks(directory: Path, count: int) -> None:
    source = Path(__file__).resolve().parents[1] / "tasks" / "jcommonsenseqa" / "jcommonsenseqa.yaml"
    text = source.read_text(encoding="utf-8")
    for i in range(count):
        sub = directory / f"g{i // 100}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"t{i}.yaml").write_text(text.replace("task: jcommonsenseqa", f"task: synthetic_{i}"), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--many", type=int, default=2000, help="also list with this many extra task files")
    args = parser.parse_args()
    jlce = [sys.executable, "-m", "jlce"]
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, jlce.cli.main; print(json.dumps(sorted(m for m in ('torch','transformers','vllm','datasets','numpy','scipy') if m in sys.modules)))".replace("json.dumps", "__import__('json').dumps")],
        check=True, capture_output=True, text=True,
    )
    heavy = json.loads(probe.stdout)
    rows = [("jlce --help", median_seconds(jlce + ["--help"], args.runs)),
            ("jlce ls tasks", median_seconds(jlce + ["ls", "tasks"], args.runs)),
            # every plugin loaded and asked for its commands (what a command no built-in has costs)
            ("jlce ls commands", median_seconds(jlce + ["ls", "commands"], args.runs))]
    with tempfile.TemporaryDirectory() as tmp:
        make_many_tasks(Path(tmp), args.many)
        rows.append((f"jlce ls tasks (+{args.many} task files)", median_seconds(jlce + ["ls", "tasks", "--include-path", tmp], args.runs)))
    lm_eval = shutil.which("lm_eval", path=str(Path(sys.executable).parent)) or shutil.which("lm_eval")
    if lm_eval:  # installed with `pip install 'jlce[lmeval]'` (its own virtualenv's bin need not be on PATH)
        rows.append(("lm_eval --help", median_seconds([lm_eval, "--help"], max(3, args.runs // 2))))
        rows.append(("lm_eval ls tasks", median_seconds([lm_eval, "ls", "tasks"], 1)))
    print(f"{'command':45s} median wall (s)")
    for name, seconds in rows:
        print(f"{name:45s} {seconds:8.3f}")
    print(f"heavy modules imported by `import jlce.cli.main`: {heavy or 'none'}")


if __name__ == "__main__":
    main()
