"""JLCE_OFFLINE=1 opens no connection: hub and URL sources pointed at a local listener that counts
connections get none, and the run fails at once with the task, the source and how to provide it."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from pathlib import Path

import pytest

from e2e_helpers import jlce, jlce_env

REVISION = "0123456789abcdef0123456789abcdef01234567"

HUB_TASK = """\
task: toy_hub_offline
version: "1"
license: CC0-1.0
dataset:
  hub:
    path: jlce-test/toy-offline
    revision: {revision}
eval_split: test
output_type: multiple_choice
prompt: "{{{{ q }}}}："
choices: ["はい", "いいえ"]
gold: "{{{{ label }}}}"
metrics:
  - name: acc
"""

URL_TASK = """\
task: toy_url_offline
version: "1"
license: CC0-1.0
dataset:
  format: jsonl
  files:
    test:
      - url: {url}/toy.jsonl
        sha256: {sha}
eval_split: test
output_type: multiple_choice
prompt: "{{{{ q }}}}："
choices: ["はい", "いいえ"]
gold: "{{{{ label }}}}"
metrics:
  - name: acc
"""

LOCAL_TASK = URL_TASK.replace("toy_url_offline", "toy_local_offline").replace("- url: {url}/toy.jsonl", "- path: toy.jsonl")


class ConnectionCounter:
    """A TCP listener on 127.0.0.1 that accepts, counts and closes every connection."""

    def __init__(self) -> None:
        self.count = 0
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except (TimeoutError, OSError):
                continue
            self.count += 1
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._socket.close()


@pytest.fixture()
def listener():
    counter = ConnectionCounter()
    yield counter
    counter.close()


def _tasks(tmp_path: Path, url: str) -> Path:
    directory = tmp_path / "tasks"
    directory.mkdir()
    data = "".join(json.dumps({"q": f"問{i}", "label": i % 2}, ensure_ascii=False) + "\n" for i in range(4))
    (directory / "toy.jsonl").write_text(data, encoding="utf-8")
    sha = hashlib.sha256(data.encode()).hexdigest()
    (directory / "toy_hub_offline.yaml").write_text(HUB_TASK.format(revision=REVISION), encoding="utf-8")
    (directory / "toy_url_offline.yaml").write_text(URL_TASK.format(url=url, sha=sha), encoding="utf-8")
    (directory / "toy_local_offline.yaml").write_text(LOCAL_TASK.format(sha=sha), encoding="utf-8")
    return directory


def _env(tmp_path: Path, listener: ConnectionCounter) -> dict[str, str]:
    return jlce_env(tmp_path / "cache", JLCE_OFFLINE="1", JLCE_DATA_DIR=str(tmp_path / "data"), HF_ENDPOINT=listener.url,
                    HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="", HF_DATASETS_OFFLINE="", TRANSFORMERS_OFFLINE="")


def test_offline_run_opens_no_connection_and_says_how_to_provide_the_data(tmp_path, listener):
    tasks, env = _tasks(tmp_path, listener.url), _env(tmp_path, listener)
    result = jlce("run", "--model", "jlce-tiny", "--tasks", "toy_hub_offline,toy_url_offline", "--include-path", str(tasks),
                  "-o", str(tmp_path / "run"), "-q", env=env)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    err = " ".join(result.stderr.split())
    for expected in ("toy_hub_offline", "jlce-test/toy-offline", "toy_url_offline", f"{listener.url}/toy.jsonl",
                     "jlce data pull --tasks toy_hub_offline", "jlce data add toy_url_offline", "JLCE_OFFLINE"):
        assert expected in err, expected
    assert listener.count == 0


def test_offline_pull_show_and_ls_open_no_connection(tmp_path, listener):
    tasks, env = _tasks(tmp_path, listener.url), _env(tmp_path, listener)
    for args in (("data", "pull", "--tasks", "toy_url_offline,toy_hub_offline"), ("show", "task", "toy_hub_offline", "--data", "auto"),
                 ("show", "task", "toy_url_offline", "--data", "auto")):
        result = jlce(*args, "--include-path", str(tasks), env=env)
        assert result.returncode == 2 and "JLCE_OFFLINE" in result.stderr and "Traceback" not in result.stderr, (args, result.stderr)
    listed = jlce("data", "ls", "--tasks", "toy_hub_offline", "--include-path", str(tasks), env={**env, "COLUMNS": "300"})
    assert listed.returncode == 0, listed.stderr
    assert "no: not in" in listed.stdout  # the real state of the hub caches, not a blanket "HF cache"
    assert listener.count == 0


def test_skip_missing_data_prints_what_it_skipped_and_why(tmp_path, listener, tiny_model_dir):
    tasks, env = _tasks(tmp_path, listener.url), _env(tmp_path, listener)
    result = jlce("run", "--model", str(tiny_model_dir), "--tasks", "toy_local_offline,toy_url_offline,toy_hub_offline",
                  "--include-path", str(tasks), "--skip-missing-data", "-o", str(tmp_path / "run"), env={**env, "COLUMNS": "300"})
    assert result.returncode == 0, result.stderr
    console = " ".join((result.stdout + result.stderr).split())
    assert "skipped task 'toy_url_offline'" in console and "skipped task 'toy_hub_offline'" in console
    assert "2 task(s) skipped for missing data" in console
    results = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    assert set(results["tasks"]) == {"toy_local_offline"}
    assert set(results["skipped_tasks"]) == {"toy_url_offline", "toy_hub_offline"}
    assert listener.count == 0


def test_hub_cache_state_reads_the_cache_folders(tmp_path, monkeypatch):
    from jlce.data import hubcache
    from jlce.taskschema import HubSource

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    for name in ("HF_DATASETS_CACHE", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        monkeypatch.delenv(name, raising=False)
    hub = HubSource(path="owner/data-ja", name="ja", revision=REVISION)
    assert not hubcache.state(hub).present
    # The layout the hub client writes for a downloaded dataset revision ...
    snapshot = tmp_path / "hf" / "hub" / "datasets--owner--data-ja" / "snapshots" / REVISION
    snapshot.mkdir(parents=True)
    (snapshot / "test.csv").write_text("q,label\n", encoding="utf-8")
    assert hubcache.state(hub).present and "not yet prepared" in hubcache.state(hub).detail
    # ... and the one `datasets` writes when it prepares it; another revision does not count.
    other = tmp_path / "hf" / "datasets" / "owner___data-ja" / "ja" / "0.0.0" / ("f" * 40)
    other.mkdir(parents=True)
    assert "prepared" not in hubcache.state(hub).detail.split("(")[0]
    prepared = other.parent / REVISION
    prepared.mkdir()
    assert hubcache.state(hub).prepared == (prepared,)
