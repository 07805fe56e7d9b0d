"""Semantic and reasoning tasks: definitions load, fixtures render Japanese prompts, readers and
processors parse their formats, and the real data in ../shared/data loads through the real path
(data directory + checksum, offline) with the published item counts."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from jlce.data import store
from jlce.data.jsem import read_jsem_xml
from jlce.data.processors import canonical_number
from jlce.data.squad import read_squad_flat
from jlce.errors import DataError
from jlce.scoring import score_task
from jlce.requests import GenerateResult, LoglikelihoodResult
from jlce.task import load_tasks

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
TASKS = ["jcommonsenseqa", "jnli", "jsquad", "jsts", "mgsm_ja", "janli", "jsem", "xwinograd_ja"]


def _task(name: str):
    (task,) = load_tasks(name)
    return task


# ---- definitions and fixtures ------------------------------------------------------------

# (task, words that must appear in the first rendered prompt, choices of the first item or None)
FIXTURE_EXPECTATIONS = {
    "jcommonsenseqa": (["質問：", "答え："], ("傘", "扇風機", "鉛筆", "枕", "電卓")),
    "jnli": (["前提：公園のベンチに男性が座って新聞を読んでいます。", "仮説：", "関係："], ("含意", "矛盾", "中立")),
    "jsquad": (["題名：信濃川", "文章：信濃川は、長野県", "質問：日本で最も長い川は何か。", "答え："], None),
    "jsts": (["文1：公園のベンチに男性が座っています。", "文2：", "類似度："], None),
    "mgsm_ja": (["問題：ゆうきさんはりんごを12個", "ステップごとの答え："], None),
    "janli": (["前提：猫が鳥を見ている", "仮説：鳥を猫が見ている"], ("含意", "非含意")),
    "jsem": (["前提：すべての学生が試験に合格した。", "仮説：ある学生が試験に合格した。"], ("はい", "いいえ", "わからない")),
    "xwinograd_ja": ([], ("太郎は次郎に宿題を手伝ってもらったので、太郎はお礼を言った。",
                          "太郎は次郎に宿題を手伝ってもらったので、次郎はお礼を言った。")),
}


@pytest.mark.parametrize("name", TASKS)
def test_fixture_builds_a_japanese_prompt(name):
    task = _task(name)
    assert task.config.category == ("semantic" if name in TASKS[:4] else "reasoning")
    task.build(limit=3, data="fixture")
    assert len(task.instances) == 3 and task.data_source == "fixture"
    first = task.instances[0]
    words, choices = FIXTURE_EXPECTATIONS[name]
    for word in words:
        assert word in first.prompt
    assert first.choices == choices
    if choices is None:  # generation: the prompt ends where the answer starts
        assert first.prompt.endswith("：") and first.references
    else:
        assert first.gold is not None and first.references == (choices[first.gold],)


def test_fewshot_examples_come_from_their_own_split():
    jnli = _task("jnli")
    jnli.build(limit=2, data="fixture")
    shots = ["少年がボールを蹴っています。", "猫が窓辺で日向ぼっこをしています。", "道路を大きなトラックが走っています。",
             "女性が自転車に乗って川沿いを走っています。", "男性がパソコンで作業をしています。"]
    prompt = jnli.instances[0].prompt
    assert jnli.num_fewshot == 3 and sum(shot in prompt for shot in shots) == 3
    assert prompt.count("関係：") == 4  # three answered examples + the item
    jsquad = _task("jsquad")
    jsquad.build(limit=1, data="fixture")
    assert jsquad.num_fewshot == 2 and jsquad.instances[0].prompt.count("題名：") == 3
    assert "信濃川" not in jsquad.instances[0].prompt.split("題名：")[1]  # examples are test-split articles


def test_labels_map_to_the_right_choice():
    jnli = _task("jnli")
    jnli.build(data="fixture", num_fewshot=0)
    labels = [json.loads(line)["label"] for line in (REPO / "tasks/jnli/fixtures/valid.jsonl").read_text("utf-8").splitlines()]
    words = {"entailment": "含意", "contradiction": "矛盾", "neutral": "中立"}
    assert [inst.choices[inst.gold] for inst in jnli.instances] == [words[label] for label in labels]
    xw = _task("xwinograd_ja")
    xw.build(data="fixture")
    assert [inst.gold for inst in xw.instances] == [0, 1, 1, 1, 1, 0, 1, 1]
    assert all(inst.prompt == "" for inst in xw.instances)


def test_jsem_keeps_inference_problems_only():
    jsem = _task("jsem")
    jsem.build(data="fixture")
    # 9 problems in the fixtures; "undef" and "unacceptable" are left out
    assert len(jsem.instances) == 7
    answers = [inst.choices[inst.gold] for inst in jsem.instances]
    assert answers == ["はい", "いいえ", "わからない", "はい", "はい", "わからない", "いいえ"]
    syllogism = jsem.instances[3]
    assert "前提：すべての画家は絵筆を持っている。花子は画家だ。\n" in syllogism.prompt


def test_mgsm_references_are_canonical_numbers():
    task = _task("mgsm_ja")
    task.build(data="fixture")
    assert [inst.references[0] for inst in task.instances] == ["15", "1580", "33", "10000", "7", "5", "16", "33.6"]


def _answers_for(task, texts):
    return [[GenerateResult(text=text, n_tokens=len(text))] for text in texts]


def test_generation_filters_and_metrics_on_fixture_answers():
    """Scoring through the tasks' own filters: think blocks, extra lines and number formats."""
    mgsm = _task("mgsm_ja")
    mgsm.build(limit=3, data="fixture")
    texts = ["<think>12-5=7, 7+8=15</think>12-5+8=15なので、答えは15です。",
             "320×4=1280、150×2=300、合計は１，５８０円です。\n\n問題：次の",
             "<think>6×7=42 でも途中で打ち切られた"]
    scores = score_task(mgsm, _answers_for(mgsm, texts))
    assert [row["response"]["filtered"] for row in scores.samples] == ["15", "1580", ""]
    assert scores.metrics["acc"]["value"] == pytest.approx(2 / 3)

    jsquad = _task("jsquad")
    jsquad.build(limit=3, data="fixture", num_fewshot=0)
    scores = score_task(jsquad, _answers_for(jsquad, ["信濃川\n質問：", " 367 ", "<think>考える</think>千曲"]))
    assert [row["response"]["filtered"] for row in scores.samples] == ["信濃川", "367", "千曲"]
    assert [row["metrics"]["exact_match"] for row in scores.samples] == [1.0, 1.0, 0.0]
    # "千曲" vs the reference "千曲川": precision 2/2, recall 2/3 -> F1 0.8
    assert scores.samples[2]["metrics"]["char_f1"] == pytest.approx(0.8)

    jsts = _task("jsts")
    jsts.build(data="fixture", num_fewshot=0)
    gold = [4.8, 0.0, 3.2, 3.6, 0.2, 4.4, 2.8, 0.4]
    texts = ["５", "0.5です", "3", "類似度は4", "わかりません", "4.5\n文1：", "2", "1"]
    scores = score_task(jsts, _answers_for(jsts, texts))
    predicted = [5.0, 0.5, 3.0, 4.0, 0.0, 4.5, 2.0, 1.0]  # "わかりません" has no number -> 0 (invalid: 0)
    from scipy.stats import pearsonr, spearmanr

    assert scores.metrics["pearson"]["value"] == pytest.approx(pearsonr(predicted, gold)[0])
    assert scores.metrics["spearman"]["value"] == pytest.approx(spearmanr(predicted, gold)[0])
    assert scores.metrics["pearson"]["info"]["n_invalid"] == 1


def test_multiple_choice_metrics_on_fixture_answers():
    jnli = _task("jnli")
    jnli.build(data="fixture", num_fewshot=0)
    golds = [inst.gold for inst in jnli.instances]
    picks = [0, 1, 0, 0, 1, 2, 0, 0]  # 6 of 8 right (items 3 and 8 wrong)
    answers = [[LoglikelihoodResult(logprob=0.0 if i == pick else -5.0, is_greedy=i == pick, n_tokens=1) for i in range(3)]
               for pick in picks]
    scores = score_task(jnli, answers)
    assert scores.metrics["acc"]["value"] == pytest.approx(sum(p == g for p, g in zip(picks, golds)) / len(golds))
    from sklearn.metrics import f1_score

    assert scores.metrics["macro_f1"]["value"] == pytest.approx(f1_score(golds, picks, average="macro"))


# ---- readers and processors ----------------------------------------------------------------


def test_squad_reader_flattens_and_keeps_distinct_answers(tmp_path):
    path = tmp_path / "mini.json"
    path.write_text(json.dumps({"data": [{"title": "T", "paragraphs": [{"context": "T [SEP] 本文です。", "qas": [
        {"id": "q1", "question": "問1", "answers": [{"text": "本文", "answer_start": 8}, {"text": "本文", "answer_start": 8},
                                                   {"text": "本文です", "answer_start": 8}]},
        {"id": "q2", "question": "問2", "answers": [], "is_impossible": True}]}]}]}, ensure_ascii=False), "utf-8")
    docs = read_squad_flat([path], title_separator=" [SEP] ")
    assert docs == [{"id": "q1", "title": "T", "context": "本文です。", "question": "問1",
                     "answers": ["本文", "本文です"], "answer": "本文"}]
    assert read_squad_flat([path])[0]["context"] == "T [SEP] 本文です。"
    path.write_text('{"version": 1}', "utf-8")
    with pytest.raises(DataError, match="not SQuAD-style"):
        read_squad_flat([path])


def test_jsem_reader_fields_and_errors(tmp_path):
    docs = read_jsem_xml([REPO / "tasks/jsem/fixtures/GeneralizedQuantifier.xml"])
    assert [d["answer"] for d in docs] == ["yes", "no", "unknown", "yes", "undef"]
    assert docs[3]["premises"] == ["すべての画家は絵筆を持っている。", "花子は画家だ。"]
    assert docs[0]["phenomenon"] == "GeneralizedQuantifier" and docs[0]["jsem_id"] == "90001"
    bad = tmp_path / "Bad.xml"
    bad.write_text('<jsem-dataset><problem answer="yes" jsem_id="1"><p><script>前提。</script></p></problem></jsem-dataset>', "utf-8")
    with pytest.raises(DataError, match="lacks a premise or hypothesis"):
        read_jsem_xml([bad])
    bad.write_text("<jsem-dataset><problem>", "utf-8")
    with pytest.raises(DataError, match="invalid XML"):
        read_jsem_xml([bad])


def test_jsem_reader_refuses_entity_expansion(tmp_path):
    bomb = tmp_path / "Bomb.xml"
    bomb.write_text('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
                    '<jsem-dataset><problem answer="yes"><p><script>&b;</script></p><h><script>x</script></h></problem></jsem-dataset>',
                    "utf-8")
    with pytest.raises(ValueError):  # defusedxml's EntitiesForbidden; the loader reports it as a DataError
        read_jsem_xml([bomb])


def test_canonical_number():
    docs = [{"answer": "2,125"}, {"answer": "１８"}, {"answer": "3.50"}]
    assert [d["answer"] for d in canonical_number(docs, field="answer")] == ["2125", "18", "3.5"]
    with pytest.raises(DataError, match="holds no number"):
        canonical_number([{"answer": "なし"}], field="answer")


def test_groups_list_the_category_tasks():
    assert [t.name for t in load_tasks("jlce_semantic")] == ["jcommonsenseqa", "jnli", "jsquad", "jsts"]
    assert [t.name for t in load_tasks("jlce_reasoning")] == ["mgsm_ja", "janli", "jsem", "xwinograd_ja"]


# ---- real data from ../shared/data ---------------------------------------------------------

REAL = {  # task: (split evaluated, items, num_fewshot usable with the shared files)
    "jcommonsenseqa": ("validation", 1119, None),
    "jnli": ("validation", 2434, 0),  # JNLI's train split (few-shot pool) is not in shared/data
    "jsquad": ("validation", 4442, None),
    "jsts": ("validation", 1457, None),
    "mgsm_ja": ("test", 250, None),
    "janli": ("test", 720, None),
    "jsem": ("test", 15810, None),
    "xwinograd_ja": ("test", 959, None),
}


@pytest.fixture(scope="module")
def shared_by_sha():
    if not SHARED.is_dir():
        pytest.skip(f"real data not present at {SHARED}")
    index = {}
    for folder in ("jglue-v1.3", "mgsm", "janli", "jsem-v1.0", "xwinograd"):
        for path in sorted((SHARED / folder).rglob("*")):
            if path.is_file():
                index[hashlib.sha256(path.read_bytes()).hexdigest()] = path
    return index


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_data_counts_and_first_prompt(name, shared_by_sha, tmp_path, monkeypatch):
    monkeypatch.setenv("JLCE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("JLCE_OFFLINE", "1")
    task = _task(name)
    split, count, num_fewshot = REAL[name]
    needed = [split] + ([task.config.fewshot.split] if task.config.fewshot and num_fewshot is None else [])
    for wanted in needed:
        for source in task.config.dataset.files[wanted]:
            if source.sha256 not in shared_by_sha:
                pytest.skip(f"{source.name} is not in {SHARED}")
            store.add_local(shared_by_sha[source.sha256], source)
    task.build(num_fewshot=num_fewshot, data="auto")
    assert task.data_source == "cache"
    assert len(task.instances) == count
    first = task.instances[0]
    text = first.prompt + "".join(first.choices or ())  # xwinograd_ja: no prompt, whole sentences as choices
    assert text and first.references and all(ref.strip() for ref in first.references)
    assert any("\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" for ch in text)
    if first.choices:
        assert 0 <= first.gold < len(first.choices)


def test_xwinograd_ja_real_rows_become_two_sentences(shared_by_sha, tmp_path, monkeypatch):
    """The first Japanese row of dataset.tsv, read through the task's pinned URL source: the
    pronoun 彼 replaced by each candidate, the true candidate (the second) is the gold."""
    monkeypatch.setenv("JLCE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("JLCE_OFFLINE", "1")
    task = _task("xwinograd_ja")
    (source,) = task.config.dataset.files["test"]
    if source.sha256 not in shared_by_sha:
        pytest.skip(f"{source.name} is not in {SHARED}")
    store.add_local(shared_by_sha[source.sha256], source)
    task.build()
    first = task.instances[0]
    assert first.choices == ("狙撃兵はテロリストを撃った。狙撃兵は悪漢だったからだ。",
                             "狙撃兵はテロリストを撃った。テロリストは悪漢だったからだ。")
    assert first.gold == 1 and first.doc["pronoun"] == "彼"
    golds = [inst.gold for inst in task.instances]
    assert len(golds) == 959 and 0 < sum(golds) < 959
    assert all(a != b for a, b in (inst.choices for inst in task.instances))

