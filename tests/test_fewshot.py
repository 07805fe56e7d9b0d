"""Few-shot samplers: per_item draws as lm-evaluation-harness does, stratified spreads the labels,
and no sampler ever shows an evaluated item."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest

from jlce.data import store
from jlce.errors import UserError
from jlce.fewshot import plan, stratified
from jlce.task import load_tasks

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"

TASK = """\
task: toy_shots
version: "1"
license: CC0-1.0
dataset:
  format: jsonl
  files:
    test:
      - path: test.jsonl
        sha256: {test_sha}
    train:
      - path: train.jsonl
        sha256: {train_sha}
eval_split: test
fewshot:
  split: {fewshot_split}
  n: {n}
  seed: 1234
  sampler: {sampler}
output_type: multiple_choice
prompt: "{{{{ q }}}}："
choices: ["はい", "いいえ"]
gold: "{{{{ label }}}}"
metrics:
  - name: acc
"""


def _rows(prefix: str, labels: list[int]) -> str:
    return "".join(json.dumps({"q": f"{prefix}{i}", "label": label}, ensure_ascii=False) + "\n" for i, label in enumerate(labels))


def _toy(tmp_path: Path, sampler: str, n: int = 3, fewshot_split: str = "train", train_labels: list[int] | None = None):
    test = _rows("問", [i % 2 for i in range(12)])
    train = _rows("例", train_labels if train_labels is not None else [0] * 40 + [1] * 4)
    (tmp_path / "test.jsonl").write_text(test, encoding="utf-8")
    (tmp_path / "train.jsonl").write_text(train, encoding="utf-8")
    text = TASK.format(test_sha=hashlib.sha256(test.encode()).hexdigest(), train_sha=hashlib.sha256(train.encode()).hexdigest(),
                       sampler=sampler, n=n, fewshot_split=fewshot_split)
    (tmp_path / "toy_shots.yaml").write_text(text, encoding="utf-8")
    (task,) = load_tasks("toy_shots", (tmp_path,))
    return task


def _shots(prompt: str) -> list[str]:
    return [line.split("：")[0] for line in prompt.split("\n\n")[:-1]]


def test_per_item_draws_a_different_seeded_set_for_each_item(tmp_path):
    task = _toy(tmp_path, "per_item")
    task.build()
    shown = [tuple(_shots(inst.prompt)) for inst in task.instances]
    assert all(len(s) == 3 for s in shown)
    assert len(set(shown)) > 6  # not one shared set (the defect: every item got the same three)
    again = _toy(tmp_path, "per_item")
    again.build(limit=5)  # item i's examples do not depend on --limit
    assert [tuple(_shots(inst.prompt)) for inst in again.instances] == shown[:5]
    assert task.fewshot_ids == sorted({int(q[1:]) for s in shown for q in s})


def test_per_item_equals_lm_evaluation_harness_draws(tmp_path):
    samplers = pytest.importorskip("lm_eval.api.samplers")
    task = _toy(tmp_path, "per_item")
    task.build()
    pool = [json.loads(line) for line in (tmp_path / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    # lm-eval's own sampler, seeded once per task (its default fewshot seed 1234), asked once per
    # evaluated document in order (the few-shot split is not the evaluated one: no eval_doc).
    sampler = samplers.ContextSampler(pool, rnd=1234)
    expected = [[doc["q"] for doc in sampler.sample(n=3, eval_doc=None)] for _ in task.instances]
    assert [_shots(inst.prompt) for inst in task.instances] == expected


def test_fixed_and_first_share_one_set(tmp_path):
    for sampler in ("fixed", "first"):
        task = _toy(tmp_path, sampler)
        task.build()
        assert len({tuple(_shots(inst.prompt)) for inst in task.instances}) == 1
    assert _shots(task.instances[0].prompt) == ["例0", "例1", "例2"]


def test_stratified_spreads_the_labels_of_an_imbalanced_pool(tmp_path):
    task = _toy(tmp_path, "stratified", n=4)  # pool: 40 of label 0, 4 of label 1
    task.build()
    golds = [int(q[1:]) >= 40 for q in _shots(task.instances[0].prompt)]
    assert Counter(golds) == {False: 2, True: 2}
    assert len({tuple(_shots(inst.prompt)) for inst in task.instances}) == 1  # shared: prefix computed once


def test_stratified_gives_a_short_label_s_share_to_the_others():
    labels = {i: ("a" if i < 10 else "b" if i < 11 else "c") for i in range(15)}
    chosen = stratified(list(range(15)), 6, 3, labels.__getitem__)
    assert Counter(labels[i] for i in chosen) == {"a": 2, "b": 1, "c": 3} or Counter(labels[i] for i in chosen) == {"a": 3, "b": 1, "c": 2}
    assert len(set(chosen)) == 6
    for seed in range(50):  # n < number of labels: distinct labels, never a repeat
        picked = stratified(list(range(15)), 2, seed, labels.__getitem__)
        assert len({labels[i] for i in picked}) == 2


def test_no_sampler_shows_an_evaluated_item(tmp_path):
    for sampler in ("fixed", "first", "per_item", "stratified"):
        task = _toy(tmp_path, sampler, fewshot_split="test")
        task.build(limit=6)
        assert task.fewshot_ids and min(task.fewshot_ids) >= 6, sampler
    with pytest.raises(UserError, match="only 0 are available"):
        _toy(tmp_path, "per_item", fewshot_split="test").build()


def test_unknown_sampler_is_refused():
    with pytest.raises(UserError, match="unknown few-shot sampler"):
        plan("balanced", [0, 1, 2], 2, 0, 3, task="t")


def test_key_table_documents_every_sampler():
    text = (REPO / "docs" / "task-authoring.md").read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| `fewshot` |"))
    for sampler in ("fixed", "first", "per_item", "stratified"):
        assert f"`{sampler}`" in row, sampler


@pytest.mark.skipif(not (SHARED / "jcola-v1.0").is_dir(), reason="../shared/data is absent")
def test_jcola_stratified_examples_on_the_real_train_split(tmp_path, monkeypatch):
    monkeypatch.setenv("JLCE_DATA_DIR", str(tmp_path / "data"))
    (task,) = load_tasks("jcola")
    by_sha = {hashlib.sha256(p.read_bytes()).hexdigest(): p for p in (SHARED / "jcola-v1.0").glob("*.json")}
    for sources in task.config.dataset.files.values():
        for source in sources:
            store.add_local(by_sha[source.sha256], source)
    task.build(limit=20)
    shots = task.instances[0].prompt.split("\n\n")[1:-1]
    assert len(shots) == 4
    assert Counter(shot.rsplit("判定：", 1)[1] for shot in shots) == {"容認できる": 2, "容認できない": 2}
