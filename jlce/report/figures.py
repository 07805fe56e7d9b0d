"""Report figures (matplotlib's object API on the Agg canvas: no display, no global pyplot state).

Each function returns a `matplotlib.figure.Figure`, or None when no model measured what it plots.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jlce.report.data import ModelSummary, shared_tasks

GIB = 2**30


def _figure(width: float, height: float, ncols: int = 1) -> tuple[Any, list[Any]]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def scores_figure(models: Sequence[ModelSummary], tasks: Sequence[str]) -> Any | None:
    """Per-task primary-metric scores of each model with the runs' 95% intervals."""
    if not tasks:
        return None
    fig, (ax,) = _figure(max(4.5, 1.1 * len(tasks) * max(1, len(models)) ** 0.5 + 2), 3.6)
    x = np.arange(len(tasks))
    width = 0.8 / len(models)
    for i, m in enumerate(models):
        values, low, high, xs = [], [], [], []
        for j, task in enumerate(tasks):
            score = m.scores.get(task)
            if score is None:
                continue
            xs.append(x[j] - 0.4 + width * (i + 0.5))
            values.append(score.value)
            low.append(score.value - score.lo if score.lo is not None else 0.0)
            high.append(score.hi - score.value if score.hi is not None else 0.0)
        ax.errorbar(xs, values, yerr=[low, high], fmt="o", capsize=3, label=m.label)
    ax.set_xticks(x, [f"{t}\n({models[0].scores[t].metric})" if t in models[0].scores else t for t in tasks],
                  rotation=30 if len(tasks) > 4 else 0, ha="right" if len(tasks) > 4 else "center", fontsize=8)
    ax.set_xlabel("task (primary metric)")
    ax.set_ylabel("score (95% interval)")
    ax.set_title("Per-task scores")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return fig


THROUGHPUT_LABELS = {
    "requests_per_s": "throughput (requests/s of batch time)",
    "tokens_per_s": "throughput (prompt + generated tokens/s of batch time)",
}


# Accuracy-like metrics on [0, 1]: preferred when choosing which metric's tasks to average.
UNIT_METRICS = ("acc", "acc_norm", "exact_match", "em", "char_f1", "f1", "macro_f1", "rougeL", "rouge1", "rouge2",
                "chrf", "bleu", "sari", "pass@1")
Z95 = 1.959963984540054


def comparable_tasks(models: Sequence[ModelSummary]) -> tuple[str | None, list[str], list[str]]:
    """The primary metric shared by most of the tasks every model ran (accuracy-like metrics on [0, 1]
    first), those tasks, and the shared tasks left out because their metric is on another scale
    (an MCC or a correlation is not averaged with an accuracy)."""
    tasks = shared_tasks(models)
    metrics = [models[0].scores[t].metric for t in tasks]
    if not metrics:
        return None, [], []
    candidates = sorted(set(metrics), key=lambda m: (m not in UNIT_METRICS, -metrics.count(m), m))
    metric = candidates[0]
    chosen = [t for t in tasks if models[0].scores[t].metric == metric and all(m.scores[t].metric == metric for m in models)]
    return metric, chosen, [t for t in tasks if t not in chosen]


def mean_score(model: ModelSummary, tasks: Sequence[str]) -> tuple[float, float | None, float | None]:
    """Mean of the tasks' scores and its 95% interval: the tasks are independent item sets, so the
    mean's standard error is sqrt(sum of se^2) / T (one task: its own interval). Kept inside [0, 1]."""
    scores = [model.scores[t] for t in tasks]
    y = float(np.mean([s.value for s in scores]))
    if len(scores) == 1:
        return y, scores[0].lo, scores[0].hi
    stderrs = [s.stderr for s in scores if s.stderr is not None]
    if len(stderrs) < len(scores):
        return y, None, None
    half = Z95 * float(np.sqrt(sum(e**2 for e in stderrs))) / len(scores)
    return y, max(0.0, y - half), min(1.0, y + half)


def tradeoff_figure(models: Sequence[ModelSummary], throughput: str = "requests_per_s") -> Any | None:
    """Mean primary score over the tasks every model ran with the same metric, with its 95% interval,
    against throughput (min-max over repeated runs). Only one metric is averaged (an accuracy is not
    averaged with an MCC); the y axis spans the metric's whole range ([0, 1], or [-1, 1] for a
    correlation), so a one-item difference does not fill the plot. Requests/s by default: tokens/s is not comparable
    between tokenizers (a model whose tokens cover more text does the same work in fewer tokens)."""
    metric, tasks, left_out = comparable_tasks(models)
    measured = [(m, m.measure(throughput)) for m in models]
    points = [(m, t) for m, t in measured if t is not None]
    if not tasks or not points:
        return None
    fig, (ax,) = _figure(5.0, 3.8)
    plotted = []
    for m, t in points:
        y, lo, hi = mean_score(m, tasks)
        plotted += [v for v in (y, lo, hi) if v is not None]
        yerr = [[y - lo], [hi - y]] if lo is not None and hi is not None else None
        ax.errorbar([t.mean], [y], xerr=[[t.mean - t.lo], [t.hi - t.mean]], yerr=yerr, fmt="o", capsize=3, label=m.label)
        ax.annotate(m.label, (t.mean, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
    values = [t.mean for _, t in points]
    if min(values) > 0 and max(values) / min(values) > 20:
        ax.set_xscale("log")
    for low, high in ((0.0, 1.0), (-1.0, 1.0)):  # the metric's whole range, not a zoom on the points
        if all(low <= v <= high for v in plotted):
            ax.set_ylim(low - 0.02 * (high - low), high + 0.02 * (high - low))
            break
    ylabel = (f"{metric} on {tasks[0]} (95% interval)" if len(tasks) == 1
              else f"mean {metric} over {len(tasks)} tasks (95% interval)")
    ax.set_xlabel(THROUGHPUT_LABELS[throughput])
    ax.set_ylabel(ylabel)
    ax.set_title("Accuracy vs throughput")
    if left_out:
        fig.text(0.01, 0.01, f"not averaged (other metrics): {', '.join(left_out)}", fontsize=7)
    ax.margins(x=0.15)
    ax.grid(alpha=0.3)
    return fig


def memory_figure(models: Sequence[ModelSummary]) -> Any | None:
    """Peak memory per model (GPU when any run watched a GPU, else process RSS) and KV cache per token."""
    gpu = any(m.measure("peak_gpu_memory_bytes") for m in models)
    key = "peak_gpu_memory_bytes" if gpu else "peak_rss_bytes"
    peaks = [m.measure(key) for m in models]
    kv = [m.measure("kv_bytes_per_token") for m in models]
    if not any(peaks) and not any(kv):
        return None
    fig, axes = _figure(max(5.0, 1.2 * len(models) + 3), 3.6, ncols=2)
    labels = [m.label for m in models]
    x = np.arange(len(models))
    heights = [p.mean / GIB if p else 0.0 for p in peaks]
    err = [[(p.mean - p.lo) / GIB if p else 0.0 for p in peaks], [(p.hi - p.mean) / GIB if p else 0.0 for p in peaks]]
    axes[0].bar(x, heights, yerr=err, capsize=3, color="tab:blue")
    axes[0].set_ylabel("peak GPU memory (GiB)" if gpu else "peak process RSS (GiB)")
    axes[0].set_title("Peak memory")
    axes[1].bar(x, [k.mean / 1024 if k else 0.0 for k in kv], color="tab:orange")
    axes[1].set_ylabel("KV cache (KiB per token)")
    axes[1].set_title("KV cache per token")
    for ax, values in ((axes[0], peaks), (axes[1], kv)):
        ax.set_xticks(x, labels, rotation=30 if len(models) > 3 else 0, ha="right" if len(models) > 3 else "center", fontsize=8)
        ax.set_xlabel("model")
        ax.grid(axis="y", alpha=0.3)
        for i, value in enumerate(values):
            if value is None:
                ax.text(x[i], 0, "not measured", rotation=90, ha="center", va="bottom", fontsize=7)
    return fig


def save_figure(fig: Any, directory: Path, stem: str) -> list[Path]:
    """Write `stem.png` (150 dpi) and `stem.pdf`."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"{stem}.png", directory / f"{stem}.pdf"]
    fig.savefig(paths[0], dpi=150)
    fig.savefig(paths[1])
    return paths
