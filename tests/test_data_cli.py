"""`jlce data pull|add|ls` and data loading through the real paths: HTTP download, checksums, offline."""

from __future__ import annotations

import hashlib
import http.server
import threading
from functools import partial
from pathlib import Path

import pytest

from e2e_helpers import jlce, jlce_env

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
JCQA = SHARED / "jglue-v1.3" / "jcommonsenseqa"

URL_TASK = """\
task: toy_remote
version: "1"
license: CC0-1.0
dataset:
  format: jsonl
  files:
    test:
      - url: {url}
        sha256: {sha}
eval_split: test
output_type: generate_until
prompt: "{{{{ q }}}}："
target: "{{{{ a }}}}"
metrics:
  - name: exact_match
"""


@pytest.fixture()
def http_server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


def _remote_task(tmp_path: Path, url: str, sha: str) -> Path:
    directory = tmp_path / "tasks"
    directory.mkdir(exist_ok=True)
    (directory / "toy_remote.yaml").write_text(URL_TASK.format(url=url, sha=sha), encoding="utf-8")
    return directory


def test_pull_downloads_and_verifies_over_http(tmp_path, http_server):
    root, base = http_server
    data = '{"q": "一たす一", "a": "二"}\n'
    (root / "toy.jsonl").write_text(data, encoding="utf-8")
    tasks = _remote_task(tmp_path, f"{base}/toy.jsonl", hashlib.sha256(data.encode()).hexdigest())
    env = jlce_env(tmp_path / "cache", JLCE_DATA_DIR=str(tmp_path / "data"), JLCE_OFFLINE="",
                   HF_HUB_OFFLINE="")  # CI may export HF_HUB_OFFLINE=1, which JLCE honours too
    pulled = jlce("data", "pull", "--tasks", "toy_remote", "--include-path", str(tasks), env=env)
    assert pulled.returncode == 0, pulled.stderr
    assert "toy.jsonl downloaded" in pulled.stdout
    again = jlce("data", "pull", "--tasks", "toy_remote", "--include-path", str(tasks), env=env)
    assert "toy.jsonl present" in again.stdout
    listed = jlce("data", "ls", "--tasks", "toy_remote", "--include-path", str(tasks), env=env)
    assert "yes" in listed.stdout and "CC0-1.0" in listed.stdout
    offline = jlce("show", "task", "toy_remote", "--data", "auto", "--include-path", str(tasks), env={**env, "JLCE_OFFLINE": "1"})
    assert offline.returncode == 0 and "一たす一：" in offline.stdout


def test_checksum_mismatch_on_download_keeps_nothing(tmp_path, http_server):
    root, base = http_server
    (root / "toy.jsonl").write_text('{"q": "改ざん", "a": "x"}\n', encoding="utf-8")
    tasks = _remote_task(tmp_path, f"{base}/toy.jsonl", "a" * 64)
    env = jlce_env(tmp_path / "cache", JLCE_DATA_DIR=str(tmp_path / "data"), JLCE_OFFLINE="",
                   HF_HUB_OFFLINE="")  # CI may export HF_HUB_OFFLINE=1, which JLCE honours too
    result = jlce("data", "pull", "--tasks", "toy_remote", "--include-path", str(tasks), env=env)
    assert result.returncode == 2 and "checksum mismatch" in result.stderr and "Traceback" not in result.stderr
    assert not list((tmp_path / "data" / "files").rglob("toy.jsonl"))


def test_missing_data_offline_says_how_to_get_it(tmp_path):
    env = jlce_env(tmp_path / "cache", JLCE_DATA_DIR=str(tmp_path / "empty"))
    result = jlce("show", "task", "jcommonsenseqa", "--data", "auto", env=env)
    assert result.returncode == 2
    assert "jlce data pull --tasks jcommonsenseqa" in result.stderr and "jlce data add jcommonsenseqa" in result.stderr


@pytest.mark.skipif(not JCQA.is_dir(), reason="../shared/data is absent")
def test_add_registers_verified_local_copies(tmp_path):
    env = jlce_env(tmp_path / "cache", JLCE_DATA_DIR=str(tmp_path / "data"))
    added = jlce("data", "add", "jcommonsenseqa", str(JCQA), env=env)
    assert added.returncode == 0, added.stderr
    assert added.stdout.count("(verified)") == 2  # valid and train; test.json is not a source
    listed = jlce("data", "ls", "--tasks", "jcommonsenseqa", env=env)
    assert listed.stdout.count(" yes ") == 2
    shown = jlce("show", "task", "jcommonsenseqa", "--data", "auto", env=env)
    assert shown.returncode == 0 and "data: cache" in shown.stdout and "電子機器で使用される" in shown.stdout

    forged = tmp_path / "valid-v1.3.json"
    forged.write_text((JCQA / "valid.json").read_text(encoding="utf-8").replace("マザーボード", "マザー"), encoding="utf-8")
    rejected = jlce("data", "add", "jcommonsenseqa", str(forged), env=env)
    assert rejected.returncode == 2 and "checksum mismatch for 'valid-v1.3.json'" in rejected.stderr
