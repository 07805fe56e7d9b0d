"""index.html in a real headless Chromium (the Debian `chromium` package), driven through the Chrome
DevTools Protocol over `--remote-debugging-pipe` (no driver, no extra Python package): the page
renders (screenshot), its tables sort on a real mouse click, it requests nothing but itself, and a
hostile model name is shown as text."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import struct
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from leaderboard_runs import write_run

from jlce.leaderboard.build import build_leaderboard, write_outputs

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package `chromium`)")

EVIL = "<script>alert(1)</script>"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,1000", "--remote-debugging-pipe")

DEFINITION = """\
name: html-test
version: "1"
title: HTML test board
categories:
  understanding: {title: Understanding}
  generation: {title: Generation}
tasks:
  qa: {category: understanding, metric: acc, title: QA}
  nli: {category: understanding, metric: acc, title: NLI}
  summ: {category: generation, metric: rougeL, title: Summaries}
"""


def _above_ten(fd: int) -> int:
    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return high


class Chromium:
    """A headless Chromium and one page, spoken to with CDP messages (NUL-separated JSON) on fds 3/4."""

    def __init__(self, profile: Path):
        to_browser, self._write = os.pipe()
        self._read, from_browser = os.pipe()
        # The browser reads commands on fd 3 and writes replies on fd 4. Copies above fd 10 are moved
        # there in the child (and no other descriptor is inheritable, PEP 446).
        to_browser, from_browser = _above_ten(to_browser), _above_ten(from_browser)

        def wire() -> None:
            os.dup2(to_browser, 3)
            os.dup2(from_browser, 4)

        self.proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                     preexec_fn=wire, close_fds=False,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive(timeout=30)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def page(self, method: str, **params: Any) -> dict[str, Any]:
        return self.call(method, session=self.session, **params)

    def wait_for(self, *events: str, timeout: float = 30) -> dict[str, Any]:
        """The first of `events` to arrive (events that came earlier count)."""
        deadline = time.monotonic() + timeout
        while not any(e.get("method") in events for e in self.events):
            self.events.append(self._receive(timeout=deadline - time.monotonic()))
        return next(e for e in self.events if e.get("method") in events)

    def evaluate(self, expression: str) -> Any:
        result = self.page("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def click(self, selector: str) -> None:
        """A real mouse click at the middle of the element."""
        box = self.evaluate(f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
                            ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            self.page("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def _receive(self, timeout: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._read], [], [], max(timeout, 0))
            if not ready:
                raise TimeoutError("no reply from chromium")
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._read)
        os.close(self._write)


@pytest.fixture
def page(tmp_path):
    rng = np.random.default_rng(0)
    dirs = []
    for name, skill in [("zeta-small", 0.35), (EVIL, 0.8), ("alpha-large", 0.6), ("mid & <b>bold</b>", 0.5)]:
        tasks = {
            "qa": {"metric": "acc", "values": (rng.random(50) < skill).astype(float).tolist()},
            "nli": {"metric": "acc", "values": (rng.random(50) < skill).astype(float).tolist()},
            "summ": {"metric": "rougeL", "values": rng.beta(1 + 4 * skill, 3, 50).tolist()},
        }
        dirs.append(write_run(tmp_path / "runs", name, tasks))
    definition = tmp_path / "board.yaml"
    definition.write_text(DEFINITION)
    board = build_leaderboard(dirs, definition, draws=500, permutations=200)
    write_outputs(board, tmp_path / "site")
    return tmp_path / "site" / "index.html", board


@pytest.fixture
def browser(tmp_path):
    chromium = Chromium(tmp_path / "profile")
    try:
        yield chromium
    finally:
        chromium.close()


def header(browser: Chromium, title: str) -> str:
    """A CSS selector for the overview header titled `title` (found by text: columns move as the table grows)."""
    index = browser.evaluate(
        "[...document.getElementById('overview').tHead.rows[0].cells]"
        ".findIndex(h => h.textContent.trim() === " + json.dumps(title) + ")")
    assert index >= 0, f"no overview column titled {title!r}"
    return f"#overview thead th:nth-child({index + 1})"


def cells(browser: Chromium, title: str, attribute: str | None = None) -> list:
    """The overview table's cells under the header `title` (text, or an attribute)."""
    get = f"c.getAttribute({json.dumps(attribute)})" if attribute else "c.textContent"
    return browser.evaluate(
        "(() => { const t = document.getElementById('overview');"
        " const i = [...t.tHead.rows[0].cells].findIndex(h => h.textContent.trim() === " + json.dumps(title) + ");"
        f" return [...t.tBodies[0].rows].map(r => {{ const c = r.cells[i]; return {get}; }}); }})()")


def test_page_renders_sorts_and_shows_hostile_names_as_text(page, browser, tmp_path):
    html, board = page
    for domain in ("Page.enable", "Runtime.enable", "Network.enable"):
        browser.page(domain)
    browser.page("Page.navigate", url=html.as_uri())
    # An injected alert(1) would open a dialog (and hold up the load event).
    assert browser.wait_for("Page.loadEventFired", "Page.javascriptDialogOpening")["method"] == "Page.loadEventFired"
    sent = [e for e in browser.events if e.get("method") == "Network.requestWillBeSent"]
    requested = [e["params"]["request"]["url"] for e in sent]
    assert requested == [html.as_uri()]  # no external (or any other) asset
    assert browser.evaluate("document.scripts.length") == 1  # only the page's own sorter
    assert browser.evaluate("document.getElementsByTagName('b').length") == 0
    names = cells(browser, "Model")
    assert EVIL in names and "mid & <b>bold</b>" in names
    assert names == [e.model for e in board.overall.entries]  # best first, as built

    shot = tmp_path / "index.png"
    shot.write_bytes(base64.b64decode(browser.page("Page.captureScreenshot", format="png")["data"]))
    data = shot.read_bytes()
    width, height = struct.unpack(">II", data[16:24])
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and width >= 800 and height >= 600

    overall_header = header(browser, "Overall")
    assert browser.evaluate(f"document.querySelector('{overall_header}').textContent") == "Overall"
    browser.click(overall_header)
    values = [float(v) for v in cells(browser, "Overall", "data-value")]
    assert values == sorted(values) and cells(browser, "Model") == names[::-1]
    assert browser.evaluate(f"document.querySelector('{overall_header}').getAttribute('aria-sort')") == "ascending"
    browser.click(overall_header)
    values = [float(v) for v in cells(browser, "Overall", "data-value")]
    assert values == sorted(values, reverse=True)
    browser.click(header(browser, "Model"))  # text order
    assert browser.evaluate("(() => { const c = [...document.querySelectorAll('#overview tbody td.model')]"
                            ".map(t => t.textContent);"
                            " return c.every((v, i) => i === 0 || c[i-1].localeCompare(v) <= 0); })()")

    assert browser.evaluate("document.querySelectorAll('figure svg').length") == 1 + 2 + 3  # overall, categories, tasks
    assert browser.evaluate("[...document.querySelectorAll('figure svg')]"
                            ".every(s => s.querySelectorAll('circle').length === 4)")
    assert EVIL in browser.evaluate("document.body.textContent")
    assert "Page.javascriptDialogOpening" not in [e.get("method") for e in browser.events]
