"""Bad data is refused, not scored: each case is an error naming the file, the item and the field;
a damaged file is reported as damaged (never as missing, never skipped)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from e2e_helpers import jlce, jlce_env
from jlce.data import store
from jlce.errors import DataDamaged, DataError, DataMissing
from jlce.task import load_tasks

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

TASK = """\
task: toy_bad
version: "1"
license: CC0-1.0
dataset:
  format: jsonl
  files:
    test:
      - {where}: {file}
        sha256: {sha}
eval_split: test
output_type: multiple_choice
prompt: "{{{{ q }}}}："
choices: {choices}
gold: "{{{{ label }}}}"
metrics:
  - name: acc
"""


def _task(tmp_path: Path, rows: list[dict], choices: str = '["{{ a }}", "{{ b }}", "{{ c }}"]', raw: str | None = None):
    data = raw if raw is not None else "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    (tmp_path / "items.jsonl").write_text(data, encoding="utf-8")
    sha = hashlib.sha256(data.encode()).hexdigest()
    (tmp_path / "toy_bad.yaml").write_text(TASK.format(where="path", file="items.jsonl", sha=sha, choices=choices), encoding="utf-8")
    (task,) = load_tasks("toy_bad", (tmp_path,))
    return task


def _row(label, **extra) -> dict:
    return {"q": "一番大きいのは", "a": "象", "b": "犬", "c": "猫", "label": label, **extra}


@pytest.mark.parametrize("label", [0.7, 2.9, "2.9", True, [1], None])
def test_a_label_that_is_not_an_integer_index_is_refused(tmp_path, label):
    task = _task(tmp_path, [_row(0), _row(label)])
    with pytest.raises(DataDamaged) as info:
        task.build()
    message = str(info.value)
    assert "items.jsonl" in message and "item 1" in message and "gold" in message


def test_an_integral_float_label_and_a_choice_text_are_accepted(tmp_path):
    task = _task(tmp_path, [_row(2.0), _row("犬")])
    task.build()
    assert [inst.gold for inst in task.instances] == [2, 1]


def test_a_gold_text_that_reads_both_as_a_choice_and_as_an_index_is_refused(tmp_path):
    rows = [{"q": "3-1は", "a": "3", "b": "2", "c": "1", "label": "2"}]  # text "2" is choice 1; index 2 is "1"
    task = _task(tmp_path, rows)
    with pytest.raises(DataDamaged, match=r"item 0.*gold.*ambiguous"):
        task.build()
    # the same gold as a number is an index: no ambiguity
    task = _task(tmp_path, [{**rows[0], "label": 2}])
    task.build()
    assert task.instances[0].gold == 2


def test_an_out_of_range_index_and_an_unknown_text_are_refused(tmp_path):
    with pytest.raises(DataDamaged, match=r"item 0.*index 3 is out of range for 3 choices"):
        _task(tmp_path, [_row(3)]).build()
    with pytest.raises(DataDamaged, match=r"item 0.*'鳥' is neither an index nor one of the choices"):
        _task(tmp_path, [_row("鳥")]).build()


def test_an_empty_choice_is_refused(tmp_path):
    task = _task(tmp_path, [_row(0), _row(0, b=" ")])
    with pytest.raises(DataDamaged, match=r"items.jsonl.*item 1.*choices.1.*empty"):
        task.build()


def test_an_empty_evaluation_split_is_refused(tmp_path):
    task = _task(tmp_path, [], raw="\n")
    with pytest.raises(DataDamaged, match=r"evaluation split 'test' has no items \(items.jsonl\)"):
        task.build()


def test_a_damaged_file_is_reported_as_damaged_not_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("JLCE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("JLCE_OFFLINE", "1")
    damaged = json.dumps(_row(0), ensure_ascii=False) + "\n" + '{"q": "切れた行", "a": "象'  # cut mid-line
    source_dir = tmp_path / "src"
    source_dir.mkdir()
    (source_dir / "items.jsonl").write_text(damaged, encoding="utf-8")
    sha = hashlib.sha256(damaged.encode()).hexdigest()
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    text = TASK.format(where="url", file="https://example.org/items.jsonl", sha=sha, choices='["{{ a }}", "{{ b }}", "{{ c }}"]')
    (tasks / "toy_bad.yaml").write_text(text, encoding="utf-8")
    (task,) = load_tasks("toy_bad", (tasks,))
    with pytest.raises(DataMissing):
        task.build()  # not there yet: missing
    store.add_local(source_dir / "items.jsonl", task.config.dataset.files["test"][0])
    with pytest.raises(DataDamaged) as info:
        task.build()
    message = str(info.value)
    assert "damaged data file" in message and "items.jsonl:2" in message and "missing" not in message
    assert "jlce data add toy_bad" in message

    # The command line: refused even with --skip-missing-data, and said to be bad data.
    env = jlce_env(tmp_path / "cache", JLCE_DATA_DIR=str(tmp_path / "data"))
    result = jlce("run", "--model", "jlce-tiny", "--tasks", "toy_bad", "--include-path", str(tasks), "--skip-missing-data",
                  "-o", str(tmp_path / "run"), "-q", env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "refused rather than scored" in result.stderr and "damaged data file" in result.stderr
    assert not (tmp_path / "run" / "results.json").exists()

    # A stored file whose bytes changed afterwards: `jlce data ls` says damaged, the run refuses it.
    stored = store.find(task.config.dataset.files["test"][0])
    stored.write_text(damaged.replace("象", "鯨"), encoding="utf-8")
    listed = jlce("data", "ls", "--tasks", "toy_bad", "--include-path", str(tasks), env={**env, "COLUMNS": "250"})
    assert listed.returncode == 0 and "damaged (sha256 differs)" in listed.stdout, listed.stdout
    with pytest.raises(DataError, match="sha256") as info:
        load_tasks("toy_bad", (tasks,))[0].build()
    assert not isinstance(info.value, DataMissing)


@pytest.mark.skipif(not (SHARED / "jglue-v1.3" / "jnli").is_dir(), reason="../shared/data is absent")
def test_jnli_without_its_train_split_says_num_fewshot_0(tmp_path, monkeypatch):
    monkeypatch.setenv("JLCE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("JLCE_OFFLINE", "1")
    (task,) = load_tasks("jnli")
    by_sha = {hashlib.sha256(p.read_bytes()).hexdigest(): p for p in (SHARED / "jglue-v1.3" / "jnli").glob("*.json")}
    for source in task.config.dataset.files["validation"]:
        store.add_local(by_sha[source.sha256], source)
    with pytest.raises(DataMissing) as info:
        task.build()
    message = str(info.value)
    assert "split 'train'" in message and "--num-fewshot 0" in message and "jlce data pull --tasks jnli" in message
    task.build(num_fewshot=0)
    assert len(task.instances) == 2434
