"""Tasks that read a Hugging Face dataset: the real `datasets.load_dataset` path, on local files
(the hub itself is not reachable here; users reach it through the same call)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

pytest.importorskip("datasets")

from jlce.task import load_tasks  # noqa: E402

TASK = """\
task: toy_hub
version: "1"
license: CC0-1.0
dataset:
  hub:
    path: {path}
    revision: main
    splits: {{validation: test}}
  process:
    - name: rename
      args: {{fields: {{text: sentence}}}}
eval_split: validation
fewshot:
  split: train
  n: 1
output_type: multiple_choice
prompt: "{{{{ sentence }}}}："
choices: ["はい", "いいえ"]
gold: "{{{{ label }}}}"
metrics:
  - name: acc
"""


def _write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_hub_dataset_loads_through_datasets(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    data = tmp_path / "dataset"
    data.mkdir()
    _write_csv(data / "train.csv", [{"text": "猫は動物だ", "label": 0}, {"text": "石は動物だ", "label": 1}])
    _write_csv(data / "test.csv", [{"text": "犬は動物だ", "label": 0}, {"text": "机は動物だ", "label": 1}, {"text": "鳥は動物だ", "label": 0}])
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "toy_hub.yaml").write_text(TASK.format(path="jlce-test/toy"), encoding="utf-8")
    (task,) = load_tasks("toy_hub", (tasks,))
    # The hub is unreachable here: point the validated hub id at the local copy (task files themselves
    # may not name local folders, see the tests below), so the real datasets.load_dataset call runs.
    hub = task.config.dataset.hub.model_copy(update={"path": str(data)})
    task.config = task.config.model_copy(update={"dataset": task.config.dataset.model_copy(update={"hub": hub})})
    task.build()
    assert task.data_source == "hub"
    assert [i.doc["sentence"] for i in task.instances] == ["犬は動物だ", "机は動物だ", "鳥は動物だ"]
    assert task.instances[1].gold == 1
    assert task.instances[0].prompt.endswith("犬は動物だ：") and task.num_fewshot == 1
    assert task.data_files and task.data_files[0]["name"].endswith("@main:test")


def test_task_files_cannot_name_local_folders_as_hub_datasets(tmp_path, monkeypatch):
    from jlce.errors import ConfigError

    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "toy_hub.yaml").write_text(TASK.format(path=tmp_path / "dataset"), encoding="utf-8")
    with pytest.raises(ConfigError, match="a local folder is not allowed"):
        load_tasks("toy_hub", (tasks,))
    (tasks / "toy_hub.yaml").write_text(TASK.format(path="owner/name"), encoding="utf-8")
    (tmp_path / "owner" / "name").mkdir(parents=True)  # a folder that shadows the hub id
    (tmp_path / "owner" / "name" / "test.csv").write_text("text,label\nsecret,0\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    (task,) = load_tasks("toy_hub", (tasks,))
    with pytest.raises(ConfigError, match="a local folder of that name exists"):
        task.build()
