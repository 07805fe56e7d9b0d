"""Task files cannot reach outside their roots, data is verified on every use, outputs are inert
(issue 19, security 1-2, 11, 12). Real files, real symbolic links, the real commands."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from e2e_helpers import jlce, jlce_env
from leaderboard_runs import write_run

from jlce.cli.main import app
from jlce.data import verify
from jlce.errors import ConfigError, DataError
from jlce.paths import contained

ROWS = '{"q": "空の色は？", "a": "青", "b": "緑", "label": 0}\n{"q": "雪の色は？", "a": "黒", "b": "白", "label": 1}\n'
SECRET = '{"q": "TOP-SECRET-CANARY", "a": "x", "b": "y", "label": 0}\n'


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def task_text(files: str, extra: str = "") -> str:
    return (f"task: t\nversion: '1'\nlicense: CC0-1.0\ndataset:\n  format: jsonl\n  files:\n    test:\n{files}{extra}"
            "eval_split: test\noutput_type: multiple_choice\nprompt: '{{ q }}'\nchoices: ['{{ a }}', '{{ b }}']\n"
            "gold: '{{ label }}'\nmetrics:\n  - name: acc\n")


@pytest.fixture
def world(tmp_path):
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.jsonl").write_text(SECRET, encoding="utf-8")
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "data.jsonl").write_text(ROWS, encoding="utf-8")
    env = {"JLCE_CACHE_DIR": str(tmp_path / "cache"), "JLCE_DATA_DIR": str(tmp_path / "data"), "JLCE_OFFLINE": "1",
           "JLCE_DEBUG": None}
    return tmp_path, tasks, env


def show(tasks: Path, env: dict, *extra: str):
    return CliRunner().invoke(app, ["show", "task", "t", "--include-path", str(tasks), *extra], env=env)


# ---- containment --------------------------------------------------------------------------------

def test_contained_accepts_inside_and_links_within_and_says_why_it_refuses(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("a")
    (tmp_path / "inner-link").symlink_to(tmp_path / "sub" / "a.txt")
    (tmp_path.parent / f"{tmp_path.name}-out.txt").write_text("out")
    (tmp_path / "outer-link").symlink_to(tmp_path.parent / f"{tmp_path.name}-out.txt")
    assert contained(tmp_path, "sub/a.txt") == (tmp_path / "sub" / "a.txt").resolve()
    assert contained(tmp_path, "inner-link") == (tmp_path / "sub" / "a.txt").resolve()
    assert contained(tmp_path, "missing.txt") == tmp_path.resolve() / "missing.txt"  # the caller says "not found"
    reasons = {"../x": "'..'", "sub/../../x": "'..'", "/etc/passwd": "absolute", "~/x": "absolute", "C:/x": "absolute",
               "a\\b": "backslash", "a\x00b": "NUL", "": "empty", "outer-link": "symbolic link leads out"}
    for path, words in reasons.items():
        with pytest.raises(ConfigError, match="refusing") as info:
            contained(tmp_path, path, what="fixture file", file="t.yaml", key="dataset.fixture")
        assert words in str(info.value) and "t.yaml" in str(info.value) and "dataset.fixture" in str(info.value)


def test_a_symlinked_data_file_beside_the_yaml_is_refused_as_a_link_not_as_missing(world):
    root, tasks, env = world
    (tasks / "link.jsonl").symlink_to(root / "outside" / "secret.jsonl")
    (tasks / "t.yaml").write_text(task_text(f"      - path: link.jsonl\n        sha256: {sha(SECRET)}\n"), encoding="utf-8")
    result = show(tasks, env)
    assert result.exit_code == 2
    assert "symbolic link leads out" in result.stderr and "not found" not in result.stderr
    assert "TOP-SECRET-CANARY" not in result.output + result.stderr


def test_a_link_inside_the_task_directory_is_fine(world):
    root, tasks, env = world
    (tasks / "alias.jsonl").symlink_to(tasks / "data.jsonl")
    (tasks / "t.yaml").write_text(task_text(f"      - path: alias.jsonl\n        sha256: {sha(ROWS)}\n"), encoding="utf-8")
    result = show(tasks, env)
    assert result.exit_code == 0, result.stderr
    assert "空の色は？" in result.output


def test_fixtures_and_includes_stay_in_the_task_directory(world):
    root, tasks, env = world
    sha_line = f"      - path: data.jsonl\n        sha256: {sha(ROWS)}\n"
    (tasks / "t.yaml").write_text(task_text(sha_line, "  fixture:\n    test: [../outside/secret.jsonl]\n"), encoding="utf-8")
    result = show(tasks, env)  # show task uses the fixture by default
    assert result.exit_code == 2 and "'..'" in result.stderr and "TOP-SECRET-CANARY" not in result.output
    (tasks / "t.yaml").write_text("task: t\ninclude: ../outside/secret.jsonl\n", encoding="utf-8")
    result = show(tasks, env)
    assert result.exit_code == 2 and "key 'include'" in result.stderr and "'..'" in result.stderr


def test_data_add_never_writes_outside_the_data_directory(world):
    root, tasks, env = world
    (tasks / "t.yaml").write_text("", encoding="utf-8")
    before = sorted(str(p) for p in root.rglob("*"))
    for name in ("../../../pwned.jsonl", "/tmp/pwned.jsonl", "a/b.jsonl", ".."):
        (tasks / "t.yaml").write_text(task_text(
            f"      - url: https://example.org/data.jsonl\n        filename: {json.dumps(name)}\n        sha256: {sha(ROWS)}\n"),
            encoding="utf-8")
        result = CliRunner().invoke(app, ["data", "add", "t", str(tasks / "data.jsonl"), "--include-path", str(tasks)], env=env)
        assert result.exit_code == 2 and "filename" in result.stderr, result.stderr
    assert sorted(str(p) for p in root.rglob("*")) == before
    assert not Path("/tmp/pwned.jsonl").exists()


def test_data_add_refuses_a_planted_link_in_the_data_directory(world):
    root, tasks, env = world
    (tasks / "t.yaml").write_text(task_text(f"      - url: https://example.org/data.jsonl\n        sha256: {sha(ROWS)}\n"),
                                  encoding="utf-8")
    files = root / "data" / "files"
    files.mkdir(parents=True)
    (files / sha(ROWS)).symlink_to(root / "outside", target_is_directory=True)  # files/<sha>/ -> outside
    result = CliRunner().invoke(app, ["data", "add", "t", str(tasks / "data.jsonl"), "--include-path", str(tasks)], env=env)
    assert result.exit_code == 2 and "symbolic link leads out" in result.stderr
    assert sorted(p.name for p in (root / "outside").iterdir()) == ["secret.jsonl"]
    (files / sha(ROWS)).unlink()
    result = CliRunner().invoke(app, ["data", "add", "t", str(tasks / "data.jsonl"), "--include-path", str(tasks)], env=env)
    assert result.exit_code == 0, result.stderr
    assert (files / sha(ROWS) / "data.jsonl").read_text(encoding="utf-8") == ROWS


# ---- verification on every use ---------------------------------------------------------------------

def test_edited_data_is_refused_on_the_next_use_even_with_size_and_mtime_kept(world, monkeypatch):
    root, tasks, env = world
    (tasks / "t.yaml").write_text(task_text(f"      - path: data.jsonl\n        sha256: {sha(ROWS)}\n"), encoding="utf-8")
    hashed: list[Path] = []
    real = verify.sha256_file
    monkeypatch.setattr(verify, "sha256_file", lambda path: hashed.append(Path(path)) or real(path))
    assert show(tasks, env, "--data", "auto").exit_code == 0
    assert show(tasks, env, "--data", "auto").exit_code == 0
    assert len(hashed) == 1  # unchanged: remembered (one stat per use), not hashed again
    data = tasks / "data.jsonl"
    stat = data.stat()
    edited = ROWS.replace("青", "赤")  # same length in bytes
    assert len(edited.encode()) == len(ROWS.encode())
    data.write_text(edited, encoding="utf-8")
    os.utime(data, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # size and mtime as before; ctime moves
    result = show(tasks, env, "--data", "auto")
    assert result.exit_code == 2 and "checksum mismatch" in result.stderr and len(hashed) == 2
    data.write_text(ROWS, encoding="utf-8")  # restored: accepted again after one more hash
    assert show(tasks, env, "--data", "auto").exit_code == 0 and len(hashed) == 3


def test_a_file_changed_while_being_read_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("JLCE_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "d.jsonl"
    path.write_text(ROWS, encoding="utf-8")

    def read():
        text = path.read_text(encoding="utf-8")
        path.write_text(ROWS.replace("青", "赤"), encoding="utf-8")  # changed behind the reader's back
        return text

    with pytest.raises(DataError, match="changed while it was being read"):
        verify.read_verified([(path, sha(ROWS))], read)
    path.write_text(ROWS, encoding="utf-8")
    value, digests = verify.read_verified([(path, sha(ROWS))], lambda: path.read_text(encoding="utf-8"))
    assert value == ROWS and digests == [sha(ROWS)]


def test_a_stored_file_edited_in_the_data_directory_is_refused_and_pull_says_so(world):
    root, tasks, env = world
    (tasks / "t.yaml").write_text(task_text(f"      - url: https://example.org/data.jsonl\n        sha256: {sha(ROWS)}\n"),
                                  encoding="utf-8")
    assert CliRunner().invoke(app, ["data", "add", "t", str(tasks / "data.jsonl"), "--include-path", str(tasks)], env=env).exit_code == 0
    assert show(tasks, env, "--data", "auto").exit_code == 0
    stored = root / "data" / "files" / sha(ROWS) / "data.jsonl"
    stored.write_text(ROWS + '{"q": "追加", "a": "x", "b": "y", "label": 0}\n', encoding="utf-8")
    result = show(tasks, env, "--data", "auto")
    assert result.exit_code == 2 and "checksum mismatch" in result.stderr and "jlce data add t" in result.stderr
    pulled = CliRunner().invoke(app, ["data", "pull", "--tasks", "t", "--include-path", str(tasks)], env=env)
    assert pulled.exit_code != 0 and "does not match its sha256" in pulled.stderr  # offline: it cannot fetch a good copy


@pytest.mark.slow  # two real `jlce run` processes on the tiny model
def test_results_record_the_digests_of_the_files_read(tmp_path, tiny_model_dir):
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "data.jsonl").write_text(ROWS, encoding="utf-8")
    (tasks / "t.yaml").write_text(task_text(f"      - path: data.jsonl\n        sha256: {sha(ROWS)}\n"), encoding="utf-8")
    out = tmp_path / "run"
    env = jlce_env(tmp_path / "cache", JLCE_DATA_DIR=str(tmp_path / "data"))
    result = jlce("run", "--model", str(tiny_model_dir), "--tasks", "t", "--include-path", str(tasks), "-o", str(out), "-q", env=env)
    assert result.returncode == 0, result.stderr
    record = json.loads((out / "results.json").read_text(encoding="utf-8"))["tasks"]["t"]
    assert record["data_files"] == [{"name": "data.jsonl", "sha256": hashlib.sha256((tasks / "data.jsonl").read_bytes()).hexdigest()}]
    (tasks / "data.jsonl").write_text(ROWS.replace("青", "赤"), encoding="utf-8")
    again = jlce("run", "--model", str(tiny_model_dir), "--tasks", "t", "--include-path", str(tasks), "-o", str(tmp_path / "run2"),
                 "-q", env=env)
    assert again.returncode == 2 and "checksum mismatch" in again.stderr and "Traceback" not in again.stderr
    assert not (tmp_path / "run2" / "results.json").exists()


# ---- inert outputs and secret names ------------------------------------------------------------------

def test_leaderboard_csv_cells_never_start_a_formula_and_markdown_escapes_dollars(tmp_path):
    from jlce.leaderboard.build import build_leaderboard, write_outputs

    names = ["=HYPERLINK(\"http://evil\",\"x\")", "+SUM(A1:A9)", "-2+3", "@cmd", "\tTAB", "＝全角", "$x$ math", "plain"]
    runs = [write_run(tmp_path / "runs", name, {"qa": {"metric": "acc", "values": [1, 0, 1, 0, 1, i % 2]}})
            for i, name in enumerate(names)]
    definition = tmp_path / "board.yaml"
    definition.write_text("name: b\nversion: '1'\ntitle: B\ncategories:\n  semantic: {weight: 1}\n"
                          "tasks:\n  qa: {category: semantic, metric: acc}\n", encoding="utf-8")
    board = build_leaderboard(runs, str(definition), draws=200, permutations=100)
    write_outputs(board, tmp_path / "out")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out" / "leaderboard.csv").read_text(encoding="utf-8"))))
    models = {row["model"] for row in rows}
    assert models == {"'" + n if n[0] in "=+-@\t＝" else n for n in names}
    for row in rows:
        for value in row.values():
            assert not value or value[0] not in "=+@\t" or value.startswith("'"), value
        assert float(row["mean"]) == pytest.approx(float(row["mean"]))  # numbers stay numbers
    markdown = (tmp_path / "out" / "leaderboard.md").read_text(encoding="utf-8")
    assert "\\$x\\$ math" in markdown and "$x$" not in markdown


@pytest.mark.parametrize("name", ["DB_PASS", "SMTP_PASS", "API_KEYS", "SIGNING_KEYS", "AWS_CREDENTIALS", "MY_CREDS",
                                  "DB_PWD", "SENTRY_DSN", "SLACK_WEBHOOK_URL", "APP_SALT", "HTTP_AUTHORIZATION",
                                  "BEARER_TOKEN", "GITHUBTOKEN", "MYPASSWORD", "X_ACCESSKEY", "DATABASE_CONNECTION_STRING"])
def test_secret_names_are_caught(name):
    from jlce.secrets import REDACTED, is_secret_name, redact_env

    assert is_secret_name(name)
    assert redact_env({f"JLCE_{name}": "hunter2-plain"})[f"JLCE_{name}"] == REDACTED


@pytest.mark.parametrize("name", ["TOKENIZERS_PARALLELISM", "VLLM_MAX_TOKENS", "max_new_tokens", "eos_token", "HF_HOME",
                                  "PASSES", "BYPASS_PROXY", "KEYBOARD", "SESSIONS_DIR", "prompt_tokens", "api_base"])
def test_ordinary_names_are_not_secrets(name):
    from jlce.secrets import is_secret_name

    assert not is_secret_name(name)
