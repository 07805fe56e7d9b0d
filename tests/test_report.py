"""`jlce report`: LaTeX tables and figures from real runs (tests/claims_runs.py). Figures are
checked as objects (axis labels, plotted values against the runs' files) and as files (the PNGs
are opened and must not be blank; the PDFs are PDFs).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from claims_runs import analysis, make_runs

from jlce.report.build import FIGURES, build_report, draw_figures
from jlce.report.data import collect


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_model_dir):
    return make_runs(tmp_path_factory.getbasetemp() / "claims-runs", tiny_model_dir)


@pytest.fixture(scope="module")
def models(runs):
    return collect([*runs.runs_a, *runs.runs_b])


def _results(run: Path) -> dict:
    return json.loads((run / "results.json").read_text(encoding="utf-8"))


def test_repeats_of_one_model_are_grouped(models, runs):
    assert [m.label for m in models] == [runs.model_a.name, runs.model_b.name]
    assert [len(m.runs) for m in models] == [2, 1]
    rates = []
    for run in runs.runs_a:
        t = _results(run)["profile"]["timing"]["throughput"]["all"]
        rates.append((t["prompt_tokens"] + t["generated_tokens"]) / t["batch_seconds"])
    speed = models[0].measure("tokens_per_s")
    assert speed.runs == 2 and speed.mean == pytest.approx(np.mean(rates)) and (speed.lo, speed.hi) == pytest.approx(sorted(rates))


def test_figures_have_labelled_axes_and_plot_the_runs_numbers(models, runs):
    figs = draw_figures(models)
    scores = figs["scores"]
    (ax,) = scores.axes
    assert ax.get_xlabel() == "task (primary metric)" and ax.get_ylabel() == "score (95% interval)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [m.label for m in models]
    for container, run in zip(ax.containers, (runs.runs_a[0], runs.runs_b[0])):
        tasks = _results(run)["tasks"]
        plotted = list(container.lines[0].get_ydata())
        assert plotted == pytest.approx([tasks[t]["metrics"][tasks[t]["primary_metric"]]["value"] for t in ("jcommonsenseqa", "jnli")])

    (tax,) = figs["accuracy_vs_throughput"].axes
    assert tax.get_xlabel() == "throughput (requests/s of batch time)"
    assert tax.get_ylabel() == "mean acc over 2 tasks (95% interval)"  # both tasks' primary metric is acc
    plotted_x = [c.lines[0].get_xdata()[0] for c in tax.containers]
    assert plotted_x == pytest.approx([m.measure("requests_per_s").mean for m in models])
    # The y axis spans the metric's range, and each point carries the interval of its mean over tasks:
    # independent tasks, se = sqrt(se_1^2 + se_2^2) / 2 from the stderrs the runs recorded.
    assert tax.get_ylim()[0] <= 0.0 and tax.get_ylim()[1] >= 1.0
    for container, run in zip(tax.containers, (runs.runs_a[0], runs.runs_b[0])):
        metrics = [_results(run)["tasks"][t]["metrics"]["acc"] for t in ("jcommonsenseqa", "jnli")]
        y = np.mean([m["value"] for m in metrics])
        half = 1.959963984540054 * np.sqrt(sum(m["stderr"] ** 2 for m in metrics)) / 2
        segments = [seg for collection in container.lines[2] for seg in collection.get_segments()]
        ys = sorted({round(float(v), 9) for seg in segments for v in seg[:, 1]})
        assert ys[0] == pytest.approx(max(0.0, y - half), abs=1e-6) and ys[-1] == pytest.approx(min(1.0, y + half), abs=1e-6)
    (tokens_ax,) = draw_figures(models, "tokens_per_s")["accuracy_vs_throughput"].axes
    assert "tokens/s" in tokens_ax.get_xlabel()

    memory = figs["memory"]
    left, right = memory.axes
    gpu = any(_results(r)["profile"]["memory"].get("devices") for r in (*runs.runs_a, *runs.runs_b))
    assert left.get_ylabel() == ("peak GPU memory (GiB)" if gpu else "peak process RSS (GiB)")
    assert right.get_ylabel() == "KV cache (KiB per token)" and left.get_xlabel() == right.get_xlabel() == "model"
    configs = [json.loads((m / "config.json").read_text()) for m in (runs.model_a, runs.model_b)]
    kv = [2 * c["num_hidden_layers"] * c["num_key_value_heads"] * (c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]) * 4 / 1024
          for c in configs]
    assert [bar.get_height() for bar in right.patches] == pytest.approx(kv)


def test_report_files_render(runs, tmp_path):
    import matplotlib.image

    out = tmp_path / "paper"
    proc = analysis("report", *map(str, (*runs.runs_a, *runs.runs_b)), "-o", str(out), env=runs.env)
    assert proc.returncode == 0, proc.stderr
    for name in FIGURES:
        image = matplotlib.image.imread(out / f"{name}.png")
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 300
        assert float(image[..., :3].std()) > 0.05  # not blank: axes, text and marks
        assert (out / f"{name}.pdf").read_bytes().startswith(b"%PDF")
    tex = (out / "tables.tex").read_text(encoding="utf-8")
    assert tex.count(r"\begin{tabular}") == 2
    assert runs.model_a.name.replace("_", r"\_") in tex and "jcommonsenseqa" in tex
    k = sum(json.loads(l)["metrics"]["acc"] for l in (runs.runs_a[0] / "samples" / "jcommonsenseqa.jsonl").read_text().splitlines())
    assert f"{k / 8:.3f} [" in tex  # the score with its interval
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "![Per-task scores with 95% intervals](scores.png)" in md


def test_figures_without_measurements_are_left_out_with_a_note(runs, tmp_path):
    """Controlled: a copy of a real run whose profile was not recorded (as with --profile none)."""
    bare = tmp_path / "bare"
    shutil.copytree(runs.runs_b[0], bare)
    results = _results(bare)
    results["profile"] = {}
    results["model"].pop("details", None)
    (bare / "results.json").write_text(json.dumps(results, ensure_ascii=False), encoding="utf-8")
    paths, notes = build_report([bare], tmp_path / "out")
    names = {p.name for p in paths}
    assert "scores.png" in names and "memory.png" not in names and "accuracy_vs_throughput.png" not in names
    assert any("accuracy_vs_throughput" in n for n in notes) and any("memory" in n for n in notes)
    assert "–" in (tmp_path / "out" / "report.md").read_text(encoding="utf-8")  # unmeasured cells, not zeros


def test_report_needs_runs(tmp_path, runs):
    proc = analysis("report", str(tmp_path / "nothing"), "-o", str(tmp_path / "out"), env=runs.env)
    assert proc.returncode == 2 and "not a run directory" in proc.stderr


def test_tradeoff_averages_one_metric_and_shows_its_whole_range():
    """Controlled numbers: two tasks scored by accuracy and one by MCC. Only the accuracies are averaged
    (issue 13: accuracy was averaged with MCC), the interval of the mean is shown, and the y axis spans
    [0, 1], so a one-item difference between the models does not fill the plot."""
    from jlce.report.data import Measure, ModelSummary, Score
    from jlce.report.figures import comparable_tasks, tradeoff_figure

    def summary(name: str, acc: tuple[float, float], mcc: float) -> ModelSummary:
        scores = {"qa": Score("acc", acc[0], None, None, 100, "wilson", 0.05),
                  "nli": Score("acc", acc[1], None, None, 100, "wilson", 0.05),
                  "cola": Score("mcc", mcc, None, None, 100, "bootstrap(1000)", 0.1)}
        return ModelSummary(name, name, name, (), scores, {"requests_per_s": Measure(10.0, 9.0, 11.0, 2)})

    models = [summary("m1", (0.50, 0.60), 0.1), summary("m2", (0.51, 0.60), 0.7)]
    assert comparable_tasks(models) == ("acc", ["qa", "nli"], ["cola"])
    fig = tradeoff_figure(models)
    (ax,) = fig.axes
    assert [c.lines[0].get_ydata()[0] for c in ax.containers] == pytest.approx([0.55, 0.555])
    assert ax.get_ylim()[0] <= 0.0 and ax.get_ylim()[1] >= 1.0
    half = 1.959963984540054 * np.sqrt(2 * 0.05**2) / 2
    vertical = [seg for seg in ax.containers[0].lines[2][-1].get_segments()]
    assert vertical[0][:, 1] == pytest.approx([0.55 - half, 0.55 + half])
    assert any("cola" in t.get_text() for t in fig.texts)
