"""Generative multiple choice: reading the chosen label or text from realistic (R1-style) answers."""

from __future__ import annotations

import pytest

from jlce.filters import strip_think
from jlce.mcgen import DEFAULT_TEMPLATE, UNPARSEABLE, default_labels, extract_choice, render_item
from jlce.prompts import Template

NLI = ["含意", "矛盾", "中立"]
JANLI = ["含意", "非含意"]
QA = ["ペン", "鉛筆", "消しゴム", "定規", "ノート"]


@pytest.mark.parametrize("raw, labels, choices, want", [
    ("<think>\n前提から考えると…2番かな。いや、3だ。\n</think>\n\n3", default_labels(5), QA, 2),
    ("<think>\nうーん\n</think>\n\n答え：2", default_labels(5), QA, 1),
    ("<think>\n...\n</think>\n\n**2**", default_labels(5), QA, 1),
    ("<think>\n...\n</think>\n\n(4) 定規", default_labels(5), QA, 3),
    ("<think>\n...\n</think>\n\n鉛筆です。", default_labels(5), QA, 1),
    ("<think>\n...\n</think>\n\n答えは「消しゴム」です。", default_labels(5), QA, 2),
    ("<think>\n...\n</think>\n\n５", default_labels(5), QA, 4),  # full-width digit (NFKC)
    ("考えた結果、1です", default_labels(5), QA, 0),  # no think block at all
    ("<think>\n1か2で迷う\n</think>\n\n非含意", JANLI, JANLI, 1),  # never read as 含意
    ("<think>\n...\n</think>\n\n含意", JANLI, JANLI, 0),
    ("<think>\n...\n</think>\n\n関係は中立です。", NLI, NLI, 2),
    ("<think>\n...\n</think>\n\nB", ["A", "B", "C"], ["x", "y", "z"], 1),
    ("<think>\n...\n</think>\n\nBecause of A", ["A", "B", "C"], ["x", "y", "z"], 0),  # the B of "Because" is no label
    ("<think>\n...\n</think>\n\n10", default_labels(5), QA, UNPARSEABLE),  # "1" is not in "10"
    ("<think>\n...\n</think>\n\n1か2", default_labels(5), QA, UNPARSEABLE),  # two choices named
    ("<think>\nずっと考えて", default_labels(5), QA, UNPARSEABLE),  # cut off while thinking: no answer
    ("", default_labels(5), QA, UNPARSEABLE),
])
def test_extract_choice_after_the_reasoning(raw, labels, choices, want):
    assert extract_choice(strip_think(raw), labels, choices) == want


def test_default_template_lists_every_choice_with_its_label():
    text = render_item(Template(DEFAULT_TEMPLATE), {"q": "x"}, "質問：何で書く？", default_labels(3), QA[:3])
    assert text == "質問：何で書く？\n選択肢：\n1. ペン\n2. 鉛筆\n3. 消しゴム\n選択肢の中から答えを一つ選び、その記号だけを答えてください。\n答え："


@pytest.mark.parametrize("name", ["jcommonsenseqa", "jnli", "janli", "jcola", "jsem", "xwinograd_ja"])
def test_every_multiple_choice_task_asks_generatively(name):
    """Each built-in multiple-choice task renders its Japanese generative question on its fixture
    data (few-shot examples answered with their labels), and every label and choice text of every
    item reads back as that choice."""
    from dataclasses import replace

    from jlce.mcgen import labels_for
    from jlce.requests import GenerateRequest
    from jlce.runconfig import RunOptions
    from jlce.sampling import task_sampling
    from jlce.task import load_tasks

    (task,) = load_tasks(name)
    sampling = task_sampling(task, RunOptions(model="m", tasks=name, mc_mode="generate", repeats=2, temperature=0.6), None)
    task.build(limit=5, data="fixture", sampling=sampling)
    assert task.generative_mc and task.sampling.repeats == 2
    for instance in task.instances:
        labels = labels_for(task.config.mc_generate.labels, len(instance.choices))
        assert len(instance.requests) == 2 and all(isinstance(r, GenerateRequest) for r in instance.requests)
        assert instance.requests[0].params.seed + 1 == instance.requests[1].params.seed
        assert all(label in instance.prompt for label in labels)
        for index, (label, choice) in enumerate(zip(labels, instance.choices)):
            assert extract_choice(label, labels, instance.choices) == index
            assert extract_choice(strip_think(f"<think>\n考える\n</think>\n\n{label}"), labels, instance.choices) == index
        # every question (few-shot examples first) ends with the same cue; each example's is answered by a label
        cue = instance.prompt.rsplit("\n", 1)[-1]
        parts = instance.prompt.split(cue)
        assert len(parts) == task.num_fewshot + 2 and parts[-1] == ""
        for answered in parts[1:-1]:
            assert any(answered.startswith(label + task.config.fewshot_delimiter) for label in labels), answered[:40]
    # the log-likelihood mode is unchanged: one request per choice
    (plain,) = load_tasks(name)
    plain.build(limit=2, data="fixture")
    assert len(plain.instances[0].requests) == len(plain.instances[0].choices)
    assert replace(sampling, mc_mode="loglikelihood").mc_mode == "loglikelihood"
