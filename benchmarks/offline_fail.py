"""How fast JLCE_OFFLINE=1 refuses a hub and a URL source that are not cached, and how many
connections it opens (HF_ENDPOINT and the URL point at a local listener that counts them).

    .venv/bin/python benchmarks/offline_fail.py

Prints the in-process time of the refusal (`load_split`) and the wall time of a whole
`jlce show task` process (interpreter start and imports included), for each source kind.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from test_offline import ConnectionCounter, _env, _tasks  # noqa: E402


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="jlce-offline-"))
    counter = ConnectionCounter()
    try:
        tasks, env = _tasks(tmp, counter.url), _env(tmp, counter)
        os.environ.update(env)
        from jlce.data.loader import load_split
        from jlce.errors import DataMissing
        from jlce.task import load_tasks

        for name in ("toy_hub_offline", "toy_url_offline"):
            (task,) = load_tasks(name, (tasks,))
            start = time.perf_counter()
            try:
                load_split(task.name, task.config.dataset, "test", task.path)
            except DataMissing:
                pass
            in_process = time.perf_counter() - start
            start = time.perf_counter()
            result = subprocess.run([sys.executable, "-m", "jlce", "show", "task", name, "--data", "auto", "--include-path", str(tasks)],
                                    capture_output=True, text=True, env=env, timeout=300)
            wall = time.perf_counter() - start
            print(f"{name}: refused in {in_process * 1000:.1f} ms in-process; `jlce show task` exit {result.returncode} "
                  f"after {wall:.2f} s wall; connections so far: {counter.count}")
    finally:
        counter.close()


if __name__ == "__main__":
    main()
