"""Every built-in task's page compares it with lm-evaluation-harness and llm-jp-eval and names
the headline metric the task file declares."""

from __future__ import annotations

from pathlib import Path

import pytest

from jlce.task import load_tasks

DOCS = Path(__file__).resolve().parents[1] / "docs" / "tasks"


@pytest.mark.parametrize("page", sorted(DOCS.glob("*.md")), ids=lambda p: p.stem)
def test_task_page_compares_with_lm_eval_and_llm_jp_eval(page):
    text = page.read_text(encoding="utf-8")
    (task,) = load_tasks(page.stem)
    if task.config.judge is not None:  # judged (MT-Bench): the reference implementation is FastChat's llm_judge
        section = text.split("## Compared with FastChat", 1)[1].split("\n## ", 1)[0]
        assert "| | JLCE | FastChat `llm_judge` |" in section
        assert "`judge_score`" in text.split("\n## ", 1)[0]
        return
    section = text.split("## Compared with lm-evaluation-harness and llm-jp-eval", 1)[1].split("\n## ", 1)[0]
    assert "| | JLCE | lm-evaluation-harness | llm-jp-eval |" in section
    for row in ("prompt", "few-shot", "metric", "why JLCE differs"):
        assert f"\n| {row} |" in section, row
    header = text.split("\n## ", 1)[0]
    metrics = [m.name for m in task.config.metrics]
    expected = f"`{task.config.headline_metric}` (headline)" if len(metrics) > 1 else f"`{metrics[0]}`"
    assert expected in header
