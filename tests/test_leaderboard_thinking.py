"""The leaderboard shows what thinking costs: generated tokens per correct answer, from real runs
with reasoning on (the torch-free dummy backend answering R1-style)."""

from __future__ import annotations

import json

import pytest

from e2e_helpers import jlce, jlce_env
from jlce.leaderboard.thinking import task_cost, tokens_per_correct

DEFINITION = """name: thinking
version: "1"
title: Thinking cost
categories:
  qa: {}
tasks:
  jsquad: {category: qa, metric: exact_match_jglue}
"""


def test_task_cost_arithmetic():
    reasoning = {"outputs": 10, "tokens_counted": 10, "thinking_tokens": {"total": 900}, "answer_tokens": {"total": 100}}
    assert task_cost(reasoning, 0.5) == (1000.0, 5.0)
    assert task_cost({**reasoning, "tokens_counted": 9}, 0.5) is None  # a token count is missing: unknown
    assert task_cost(reasoning, 0.0) is None and task_cost(None, 0.5) is None
    per_task, overall = tokens_per_correct({"a": (1000.0, 5.0), "b": (300.0, 1.0), "c": None})
    assert per_task == {"a": 200.0, "b": 300.0} and overall == pytest.approx(1300 / 6)


def test_leaderboard_reports_tokens_per_correct_answer(tmp_path):
    env = jlce_env(tmp_path / "cache")
    runs = []
    for model, thinking in (("r1-short", "答えは川。"), ("r1-long", "まず文章をよく読む。" * 8)):
        out = tmp_path / model
        done = jlce("run", "--model", model, "--backend", "dummy", "--backend-arg", f"reply=<think>{thinking}</think>\n\n信濃川",
                    "--reasoning", "on", "--tasks", "jsquad", "--data", "fixture", "-o", str(out), "-q", env=env, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        runs.append(out)
    definition = tmp_path / "thinking.yaml"
    definition.write_text(DEFINITION, encoding="utf-8")
    site = tmp_path / "site"
    done = jlce("leaderboard", "build", *map(str, runs), "--definition", str(definition), "-o", str(site), env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    board = json.loads((site / "leaderboard.json").read_text(encoding="utf-8"))
    for run, info in zip(runs, sorted(board["models"], key=lambda m: [r.name for r in runs].index(m["name"]))):
        task = json.loads((run / "results.json").read_text(encoding="utf-8"))["tasks"]["jsquad"]
        cost = task["reasoning"]
        expected = (cost["thinking_tokens"]["total"] + cost["answer_tokens"]["total"]) / (
            task["metrics"]["exact_match_jglue"]["value"] * cost["outputs"])
        assert info["tokens_per_correct"]["jsquad"] == pytest.approx(expected)
        assert info["tokens_per_correct_overall"] == pytest.approx(expected)
    long, short = (next(m for m in board["models"] if m["name"] == n) for n in ("r1-long", "r1-short"))
    assert long["tokens_per_correct_overall"] > short["tokens_per_correct_overall"]
    markdown = (site / "leaderboard.md").read_text(encoding="utf-8")
    assert "## What thinking costs" in markdown and f"{long['tokens_per_correct_overall']:,.0f}" in markdown
