"""Building leaderboards from run directories: outputs, input checks, determinism, CLI."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from leaderboard_runs import write_run
from scipy import stats
from sklearn.metrics import matthews_corrcoef
from click.testing import CliRunner

from jlce.cli.leaderboard import cli as app
from jlce.errors import UserError
from jlce.leaderboard.build import build_leaderboard, write_outputs
from jlce.leaderboard.definition import load_definition, parse_definition
from jlce.leaderboard.schema import Leaderboard, json_schema

ROOT = Path(__file__).resolve().parents[1]
FAST = {"draws": 400, "permutations": 200}

SMALL = """\
name: small
version: "1"
title: Small board
normalize: chance
categories:
  understanding: {}
  generation: {weight: 2}
tasks:
  qa: {category: understanding, metric: acc, chance: 0.25}
  nli: {category: understanding, metric: acc, chance: 0.5}
  summ: {category: generation, metric: rougeL}
"""


@pytest.fixture
def small_def(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text(SMALL)
    return path


def small_tasks(rng: np.random.Generator, skill: float, n: int = 40) -> dict:
    return {
        "qa": {"metric": "acc", "values": (rng.random(n) < skill).astype(float).tolist()},
        "nli": {"metric": "acc", "values": (rng.random(n) < skill).astype(float).tolist()},
        "summ": {"metric": "rougeL", "values": rng.beta(1 + 4 * skill, 3, n).tolist()},
    }


def small_runs(root: Path, names=("model-a", "model-b", "model-c"), seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    return [write_run(root, name, small_tasks(rng, 0.4 + 0.15 * i)) for i, name in enumerate(names)]


def scopes(board: Leaderboard) -> dict[str, object]:
    return {s.name: s for s in [board.overall, *board.categories, *board.tasks] if s is not None}


def test_official_board_outputs_validate_and_numbers_are_right(tmp_path):
    rng = np.random.default_rng(1)
    definition = load_definition()
    n = 30
    gold_sts = np.round(rng.uniform(0, 5, n), 1)
    gold_cola = rng.integers(0, 2, n)
    written = {}
    dirs = []
    for i, model in enumerate(["alpha", "beta", "gamma"]):
        tasks = {}
        for key, task in definition.tasks.items():
            if task.statistic == "spearman":
                tasks[key] = {"metric": "spearman", "gold": gold_sts.tolist(),
                              "preds": np.round(gold_sts + rng.normal(0, 2 - 0.5 * i, n)).tolist(), "reported": None}
            elif task.statistic == "mcc":
                preds = np.where(rng.random(n) < 0.6 + 0.1 * i, gold_cola, 1 - gold_cola)
                tasks[key] = {"metric": "mcc", "gold": gold_cola.tolist(), "preds": preds.tolist(), "reported": None}
            elif task.metric == "acc":
                tasks[key] = {"metric": "acc", "values": (rng.random(n) < 0.5 + 0.1 * i).astype(float).tolist()}
            else:
                lo, hi = task.range
                tasks[key] = {"metric": task.metric, "values": (lo + (hi - lo) * rng.beta(2 + i, 3, n)).tolist()}
        written[model] = tasks
        dirs.append(write_run(tmp_path / "runs", model, tasks))
    board = build_leaderboard(dirs, None, seed=3, **FAST)
    paths = write_outputs(board, tmp_path / "out")
    assert sorted(p.name for p in paths) == sorted(
        ["leaderboard.json", "leaderboard.md", "leaderboard.tex", "leaderboard.csv", "index.html"])

    document = json.loads((tmp_path / "out" / "leaderboard.json").read_text())
    published = json.loads((ROOT / "docs" / "leaderboard.schema.json").read_text())
    assert published == json_schema(), "docs/leaderboard.schema.json is stale: python -m jlce.leaderboard.schema"
    jsonschema.validate(document, published)
    assert document["schema_version"] == "1.0" and len(document["tasks"]) == 16

    by_name = scopes(board)
    # Observed task scores, computed here from what was written.
    for model, tasks in written.items():
        for key, task in definition.tasks.items():
            entry = next(e for e in by_name[key].entries if e.model == model)
            spec = tasks[key]
            if task.statistic == "spearman":
                expected = stats.spearmanr(spec["preds"], spec["gold"]).statistic
            elif task.statistic == "mcc":
                expected = matthews_corrcoef(spec["gold"], spec["preds"])
            else:
                expected = np.mean(spec["values"])
            assert entry.observed == pytest.approx(expected, rel=1e-5, abs=1e-6)
            assert entry.lo <= entry.mean <= entry.hi
    # Category = mean of chance-normalized task scores; overall = mean of categories.
    for model in written:
        cats = []
        for cat in definition.categories:
            keys = [k for k, t in definition.tasks.items() if t.category == cat]
            norm = [(next(e for e in by_name[k].entries if e.model == model).observed - definition.baseline(k))
                    / (definition.tasks[k].best - definition.baseline(k)) for k in keys]
            cat_entry = next(e for e in by_name[cat].entries if e.model == model)
            assert cat_entry.observed == pytest.approx(np.mean(norm), abs=2e-5)
            cats.append(np.mean(norm))
        overall = next(e for e in board.overall.entries if e.model == model)
        assert overall.observed == pytest.approx(np.mean(cats), abs=2e-5)
    for scope in by_name.values():
        p_rank = np.array([e.p_rank for e in scope.entries])
        assert np.allclose(p_rank.sum(axis=0), 1) and np.allclose(p_rank.sum(axis=1), 1)
        assert [e.model for e in scope.entries] == scope.models
    assert by_name["jsts"].frequentist is None and by_name["jsts"].note
    assert by_name["jcommonsenseqa"].frequentist.test == "mcnemar_exact"
    assert by_name["jsquad"].frequentist.test == "paired_permutation"
    wilson = stats.binomtest(int(sum(written["alpha"]["jnli"]["values"])), n).proportion_ci(method="wilson")
    alpha_jnli = next(e for e in by_name["jnli"].entries if e.model == "alpha")
    assert alpha_jnli.freq_interval == pytest.approx((wilson.low, wilson.high), abs=1e-5)

    rows = list(csv.DictReader(io.StringIO((tmp_path / "out" / "leaderboard.csv").read_text())))
    assert len(rows) == 3 * (1 + 4 + 16)
    tex = (tmp_path / "out" / "leaderboard.tex").read_text()
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex and tex.count(r"\begin{tabular}") == 17


def test_different_task_versions_or_data_refuse_to_compare(tmp_path, small_def):
    rng = np.random.default_rng(2)
    a = write_run(tmp_path, "model-a", small_tasks(rng, 0.5))
    tasks = small_tasks(rng, 0.6)
    tasks["qa"]["data_hash"] = "b" * 64
    b = write_run(tmp_path, "model-b", tasks)
    with pytest.raises(UserError, match="data_hash") as info:
        build_leaderboard([a, b], small_def, **FAST)
    assert str(a) in str(info.value) and str(b) in str(info.value)
    board = build_leaderboard([a, b], small_def, allow_mismatch=True, **FAST)
    assert board.settings.allow_mismatch
    assert [(m.task, m.field) for m in board.mismatches] == [("qa", "data_hash")]
    write_outputs(board, tmp_path / "out")
    assert "despite mismatches" in (tmp_path / "out" / "leaderboard.md").read_text()
    tasks = small_tasks(rng, 0.6)
    tasks["nli"]["version"] = "2.0"
    c = write_run(tmp_path, "model-c", tasks)
    with pytest.raises(UserError, match="version"):
        build_leaderboard([a, c], small_def, **FAST)


def test_models_missing_tasks_are_listed_not_scored(tmp_path, small_def):
    rng = np.random.default_rng(3)
    dirs = small_runs(tmp_path)
    partial = small_tasks(rng, 0.99)
    del partial["summ"]
    dirs.append(write_run(tmp_path, "partial", partial))
    board = build_leaderboard(dirs, small_def, **FAST)
    info = {m.name: m for m in board.models}
    assert not info["partial"].complete and info["partial"].missing_tasks == ["summ"]
    assert "partial" not in board.overall.models and len(board.overall.models) == 3
    by_name = scopes(board)
    assert "partial" in by_name["qa"].models and "partial" not in by_name["summ"].models
    assert "partial" in by_name["understanding"].models and "partial" not in by_name["generation"].models
    assert any("partial" in w and "summ" in w for w in board.warnings)


def test_two_runs_of_one_model_need_a_choice(tmp_path, small_def):
    rng = np.random.default_rng(4)
    first = write_run(tmp_path, "model-a", small_tasks(rng, 0.5), dirname="first")
    second = write_run(tmp_path, "model-a", small_tasks(rng, 0.5), dirname="second")
    other = write_run(tmp_path, "model-b", small_tasks(rng, 0.5))
    with pytest.raises(UserError, match="same model") as info:
        build_leaderboard([first, second, other], small_def, **FAST)
    assert "first" in str(info.value) and "second" in str(info.value)
    board = build_leaderboard([first, second, other], small_def, choose={"model-a": second}, **FAST)
    assert board.settings.chosen == {"model-a": str(second)} and board.settings.dropped_runs == [str(first)]
    assert next(m for m in board.models if m.name == "model-a").run_dir == str(second)
    renamed = write_run(tmp_path, "model-a-renamed", small_tasks(rng, 0.5), dirname="renamed",
                        fingerprint=json.loads((other / "results.json").read_text())["model"]["fingerprint_hash"])
    with pytest.raises(UserError, match="same model"):
        build_leaderboard([other, renamed], small_def, **FAST)
    with pytest.raises(UserError, match="did you mean 'model-a'"):
        build_leaderboard([first, other], small_def, choose={"modl-a": first}, **FAST)


def test_items_are_matched_by_doc_id(tmp_path, small_def):
    rng = np.random.default_rng(5)
    a_tasks, b_tasks = small_tasks(rng, 0.5), small_tasks(rng, 0.7)
    for spec in b_tasks.values():  # b: items 5..39 only, stored in reverse order
        spec["values"] = spec["values"][5:][::-1]
        spec["doc_ids"] = list(range(39, 4, -1))
    a, b = write_run(tmp_path, "a", a_tasks), write_run(tmp_path, "b", b_tasks)
    board = build_leaderboard([a, b], small_def, **FAST)
    qa = scopes(board)["qa"]
    assert qa.n_items == 35
    assert next(m for m in board.models if m.name == "a").dropped_items == {"qa": 5, "nli": 5, "summ": 5}
    assert next(e for e in qa.entries if e.model == "a").observed == pytest.approx(np.mean(a_tasks["qa"]["values"][5:]))
    assert next(e for e in qa.entries if e.model == "b").observed == pytest.approx(np.mean(b_tasks["qa"]["values"]))


def test_deterministic_and_independent_of_run_order(tmp_path, small_def, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    dirs = small_runs(tmp_path, names=("m1", "m2", "m3", "m4"))
    one = build_leaderboard(dirs, small_def, seed=7, **FAST)
    assert one.model_dump_json() == build_leaderboard(dirs, small_def, seed=7, **FAST).model_dump_json()
    shuffled = build_leaderboard(dirs[::-1], small_def, seed=7, **FAST)
    assert shuffled.overall == one.overall and shuffled.tasks == one.tasks and shuffled.categories == one.categories
    other_seed = build_leaderboard(dirs, small_def, seed=8, **FAST)
    assert other_seed.overall.entries[0].lo != one.overall.entries[0].lo


def test_a_duplicated_model_gets_one_half_against_its_copy(tmp_path, small_def):
    dirs = small_runs(tmp_path)
    copy = tmp_path / "copy"
    copy.mkdir()
    results = json.loads((dirs[1] / "results.json").read_text())
    results["model"].update(name="model-b-copy", fingerprint_hash="f" * 64)
    (copy / "results.json").write_text(json.dumps(results))
    (copy / "samples").symlink_to(dirs[1] / "samples")
    board = build_leaderboard([*dirs, copy], small_def, **FAST)
    for scope in scopes(board).values():
        i, j = scope.models.index("model-b"), scope.models.index("model-b-copy")
        assert scope.p_better[i][j] == 0.5 and scope.p_better[j][i] == 0.5
        assert scope.entries[i].p_rank == scope.entries[j].p_rank


def test_names_are_escaped_in_every_format(tmp_path, small_def):
    evil = r"<script>alert(1)</script> A&B_50%$#{x}~^\end|*"
    dirs = small_runs(tmp_path, names=("plain", evil))
    paths = {p.name: p for p in write_outputs(build_leaderboard(dirs, small_def, **FAST), tmp_path / "out")}
    md = paths["leaderboard.md"].read_text()
    assert "<script>" not in md and "&lt;script&gt;alert\\(1\\)&lt;/script&gt;" in md
    tex = paths["leaderboard.tex"].read_text()
    escaped = (r"\textless{}script\textgreater{}alert(1)\textless{}/script\textgreater{} A\&B\_50\%\$\#\{x\}"
               r"\textasciitilde{}\textasciicircum{}\textbackslash{}end\textbar{}*")
    assert escaped in tex and "<script>" not in tex and r"\end|" not in tex
    rows = list(csv.DictReader(io.StringIO(paths["leaderboard.csv"].read_text())))
    assert evil in {r["model"] for r in rows}
    html = paths["index.html"].read_text()
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_single_run_is_a_leaderboard_of_one(tmp_path, small_def):
    board = build_leaderboard(small_runs(tmp_path, names=("solo",)), small_def, **FAST)
    assert board.overall.models == ["solo"] and board.overall.entries[0].p_rank == [1.0]
    assert board.overall.p_better == [[0.5]] and all(t.frequentist is None for t in board.tasks)
    assert board.tasks[0].entries[0].freq_interval is not None


def test_unreadable_predictions_are_imputed_and_counted(tmp_path):
    definition = parse_definition(
        "name: sts\nversion: '1'\ntitle: STS\ncategories: {sem: {}}\n"
        "tasks:\n  jsts: {category: sem, metric: spearman, statistic: spearman, range: [-1, 1]}\n")
    gold = [0.5, 1.5, 2.0, 3.0, 4.5, 5.0]
    a = write_run(tmp_path, "a", {"jsts": {"metric": "spearman", "gold": gold, "preds": [1, 1, 2, 3, 4, 5],
                                           "reported": None}})
    b = write_run(tmp_path, "b", {"jsts": {"metric": "spearman", "gold": gold,
                                           "preds": ["一", 2, 1, "?", 5, 4], "reported": None}})
    board = build_leaderboard([a, b], definition, **FAST)
    entry = next(e for e in board.tasks[0].entries if e.model == "b")
    assert entry.n_invalid == 2
    assert entry.observed == pytest.approx(stats.spearmanr([3, 2, 1, 3, 5, 4], gold).statistic, abs=1e-6)
    assert any("unreadable" in w for w in board.warnings)


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda run: (run / "results.json").unlink(), "no results.json"),
        (lambda run: (run / "samples" / "qa.jsonl").write_text('{"doc_id": 0, "metrics": {"acc": 1}}\n{oops\n'),
         "qa.jsonl:2: not valid JSON"),
        (lambda run: (run / "samples" / "qa.jsonl").write_text('{"doc_id": 0, "metrics": {"acc": 1}}\n\n'
                                                              '{"doc_id": 1, "metrics": {}}\n'),
         "qa.jsonl:3: no per-item value for metric 'acc'"),
        (lambda run: (run / "samples" / "summ.jsonl").write_text('{"doc_id": 0, "metrics": {"rougeL": 42.0}}\n'),
         "summ.jsonl:1: rougeL = 42 lies outside the task's range [0, 1]"),
        (lambda run: (run / "samples" / "qa.jsonl").write_text('{"doc_id": 0, "metrics": {"acc": 1}}\n'
                                                              '{"doc_id": 0, "metrics": {"acc": 0}}\n'),
         "qa.jsonl:2: doc_id 0 appears twice"),
        (lambda run: (run / "results.json").write_text('{"schema_version": "2.0"}'), "not supported"),
    ],
)
def test_bad_inputs_are_user_errors(tmp_path, small_def, damage, words):
    dirs = small_runs(tmp_path)
    damage(dirs[0])
    with pytest.raises(UserError) as info:
        build_leaderboard(dirs, small_def, **FAST)
    assert words in str(info.value)


def test_cli_builds_and_reports_user_errors(tmp_path, small_def):
    dirs = small_runs(tmp_path / "runs")
    out = tmp_path / "site"
    runner = CliRunner()
    result = runner.invoke(app, ["build", str(tmp_path / "runs"), "--definition", str(small_def), "--output",
                                 str(out), "--draws", "300", "--permutations", "100", "--seed", "5"])
    assert result.exit_code == 0, result.output
    assert "3 ranked overall" in result.output
    assert json.loads((out / "leaderboard.json").read_text())["settings"]["seed"] == 5
    result = runner.invoke(app, ["build", *map(str, dirs), "--definition", str(small_def), "--output", str(out),
                                 "--choose", "no-equals-sign"])
    assert result.exit_code == 2 and "MODEL=RUN_DIR" in result.output
    result = runner.invoke(app, ["build", str(dirs[0]), "--definition", str(small_def), "--output", str(out),
                                 "--draws", "5"])
    assert result.exit_code == 2 and "at least 100" in result.output
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    result = runner.invoke(app, ["build", str(dirs[0]), "--definition", str(small_def), "--output", str(blocked),
                                 "--draws", "100", "--permutations", "10"])
    assert result.exit_code == 2 and "is a file" in result.output
    # A real process, as users run it.
    proc = subprocess.run([sys.executable, "-m", "jlce.cli.leaderboard", "build", *map(str, dirs), "--definition",
                           str(small_def), "-o", str(tmp_path / "site2"), "--draws", "200", "--permutations", "100"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "site2" / "index.html").is_file()


def test_entries_are_listed_by_observed_score_and_ties_share_a_position(tmp_path, small_def):
    """Issue 13: the order is the observed score's (stated in the document), and equal observed scores
    are shown as ties ("1="), whatever the posterior means' Monte Carlo noise says."""
    from jlce.leaderboard.tables import scope_table

    half = [1.0] * 20 + [0.0] * 20
    same = {"nli": {"metric": "acc", "values": half}, "summ": {"metric": "rougeL", "values": [0.5] * 40}}
    dirs = [write_run(tmp_path / "runs", name, {"qa": {"metric": "acc", "values": values}, **same})
            for name, values in (("model-c", [1.0] * 10 + [0.0] * 30), ("model-b", half[::-1]), ("model-a", half))]
    board = build_leaderboard(dirs, small_def, seed=1, **FAST)
    by_name = scopes(board)
    qa = by_name["qa"]
    assert [(e.model, e.position, e.observed) for e in qa.entries] == [("model-a", 1, 0.5), ("model-b", 1, 0.5),
                                                                     ("model-c", 3, 0.25)]
    assert [row[0].text for row in scope_table(qa).rows] == ["1=", "1=", "3"]
    assert 0.3 < qa.p_better[0][1] < 0.7  # the tie is visible in P(A > B) too
    assert [e.position for e in by_name["nli"].entries] == [1, 1, 1]
    assert "listed by observed score" in board.method
