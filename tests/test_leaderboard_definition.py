"""Leaderboard definitions: the official one, and clear errors for broken ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from jlce.errors import ConfigError, UserError
from jlce.leaderboard.definition import load_definition, official_definition_path, parse_definition

ROOT = Path(__file__).resolve().parents[1]

HEADLINE = {
    "jcommonsenseqa": "acc", "jnli": "acc", "jsquad": "char_f1_jglue", "jsts": "spearman",
    "jcola": "mcc", "ud_pos": "token_accuracy", "dependency": "dependency_set_f1", "chunking": "chunk_f1",
    "mgsm_ja": "acc", "janli": "acc", "jsem": "acc", "xwinograd_ja": "acc",
    "xlsum_ja": "rouge2_lmeval", "jsquad_qg": "rougeL", "snow_simplification": "sari", "wmt23_enja": "chrf",
}

MINIMAL = """\
name: tiny
version: "1"
title: Tiny
categories:
  sem: {weight: 2}
  gen: {}
tasks:
  a: {category: sem, metric: acc, chance: 0.25}
  b: {category: sem, metric: acc, weight: 3}
  c: {category: gen, metric: chrf, range: [0, 100]}
"""


def test_official_definition_has_sixteen_tasks_in_four_categories():
    d = load_definition()
    assert Path(d.source) == official_definition_path() == ROOT / "leaderboards" / "jlce-v1.yaml"
    assert {k: t.metric for k, t in d.tasks.items()} == HEADLINE
    by_category = {c: [k for k, t in d.tasks.items() if t.category == c] for c in d.categories}
    assert by_category == {
        "semantic": ["jcommonsenseqa", "jnli", "jsquad", "jsts"],
        "syntactic": ["jcola", "ud_pos", "dependency", "chunking"],
        "reasoning": ["mgsm_ja", "janli", "jsem", "xwinograd_ja"],
        "generation": ["xlsum_ja", "jsquad_qg", "snow_simplification", "wmt23_enja"],
    }
    assert d.tasks["jsts"].statistic == "spearman" and d.tasks["jcola"].statistic == "mcc"
    assert d.tasks["jsts"].invalid == 0 and d.tasks["wmt23_enja"].range == (0.0, 1.0)
    assert sum(d.task_weights().values()) == pytest.approx(1.0)
    assert d.normalize == "chance" and d.baseline("jcommonsenseqa") == 0.2 and d.baseline("xlsum_ja") == 0.0
    assert load_definition("jlce-v1") == d  # a bundled definition by name


def test_weights_spread_category_weight_over_tasks():
    d = parse_definition(MINIMAL)
    assert d.task_weights() == pytest.approx({"a": 2 / 3 * 1 / 4, "b": 2 / 3 * 3 / 4, "c": 1 / 3})
    assert d.baseline("a") == 0.0  # normalize: none -> the worst value
    assert d.source_task("a") == "a" and len(d.sha256) == 64


@pytest.mark.parametrize(
    ("text", "line", "key", "words"),
    [
        (MINIMAL.replace("metric: chrf", "metrc: chrf"), 10, "tasks.c.metrc", "did you mean 'metric'"),
        (MINIMAL.replace("category: gen", "category: gne"), 10, "tasks.c.category", "did you mean 'gen'"),
        (MINIMAL.replace("range: [0, 100]", "range: [100, 0]"), 10, "tasks.c", "low < high"),
        (MINIMAL.replace("chance: 0.25", "chance: 1.5"), 8, "tasks.a", "outside range"),
        (MINIMAL.replace("title: Tiny", "titel: Tiny"), 3, "titel", "did you mean 'title'"),
        (MINIMAL.replace("sem: {weight: 2}", "sem: {weight: -2}"), 5, "categories.sem.weight", "greater than 0"),
        (MINIMAL + "  d: {category: gen, metric: rho, statistic: spearman}\n", 11, "tasks.d", "range must be [-1, 1]"),
    ],
)
def test_errors_name_file_line_and_key(tmp_path, text, line, key, words):
    path = tmp_path / "board.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_definition(path)
    err = info.value
    assert (err.file, err.line, err.key) == (str(path), line, key)
    assert words in str(err) and str(path) in str(err)


def test_invalid_yaml_and_missing_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_definition(path)
    with pytest.raises(UserError, match="not found"):
        load_definition(tmp_path / "nope.yaml")
