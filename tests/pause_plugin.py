"""A plugin for tests of interruption: it stops a real `jlce run` subprocess at a chosen point of
progress (not at a time), so a kill or signal lands exactly there whatever the machine's speed.

`pause_env(tmp, "batch:3")` returns environment variables for the subprocess: the plugin is found
through its entry point (a dist-info on PYTHONPATH), and at the named point it writes the marker
file and waits (up to 10 minutes) for the test to kill or signal the process, or to let it go on
(`release(env)`). Points:
`stage:<name>` when a stage starts (data_load, model_load, build_requests, inference:<kind>,
scoring, writing) and `batch:<n>` after the n-th backend batch is committed to the cache.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

MODULE = '''
import os
import time
from pathlib import Path

from jlce.plugins import hookimpl

AT = os.environ.get("JLCE_TEST_PAUSE_AT", "")
MARKER = os.environ.get("JLCE_TEST_PAUSE_MARKER", "")
_batches = [0]


def _pause(where):
    Path(MARKER).write_text(where)
    go = Path(MARKER + ".go")
    for _ in range(30000):  # 10 minutes at most
        if go.exists():
            return
        time.sleep(0.02)


@hookimpl
def jlce_stage_start(run, event):
    if AT == "stage:" + event.stage:
        _pause(AT)


@hookimpl
def jlce_after_batch(run, event):
    _batches[0] += 1
    if AT == "batch:" + str(_batches[0]):
        _pause(AT)
'''


def pause_env(tmp: Path, at: str, tag: str = "") -> dict[str, str]:
    site = tmp / "pause-site"
    if not site.exists():
        (site / "jlce_test_pause-0.1.dist-info").mkdir(parents=True)
        (site / "jlce_test_pause-0.1.dist-info" / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: jlce_test_pause\nVersion: 0.1\n")
        (site / "jlce_test_pause-0.1.dist-info" / "entry_points.txt").write_text("[jlce]\njlce_test_pause = jlce_test_pause\n")
        (site / "jlce_test_pause.py").write_text(MODULE)
    marker = tmp / f"paused-{at.replace(':', '-')}{tag}"
    marker.unlink(missing_ok=True)
    Path(f"{marker}.go").unlink(missing_ok=True)
    path = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": f"{site}{os.pathsep}{path}" if path else str(site), "JLCE_TEST_PAUSE_AT": at,
            "JLCE_TEST_PAUSE_MARKER": str(marker)}


def wait_for_pause(process: subprocess.Popen, env: dict[str, str], timeout: float = 600) -> bool:
    """True once the run sits at its pause point; False if it ended first (the point never came)."""
    marker = Path(env["JLCE_TEST_PAUSE_MARKER"])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if marker.exists():
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.02)
    raise TimeoutError(f"the run reached neither {env['JLCE_TEST_PAUSE_AT']} nor its end in {timeout} s")


def release(env: dict[str, str]) -> None:
    Path(env["JLCE_TEST_PAUSE_MARKER"] + ".go").write_text("go")
