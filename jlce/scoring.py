"""Turn answered instances into SampleViews, apply filters, compute metrics with uncertainty."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from jlce.errors import UserError
from jlce.pluginargs import call_filter, call_metric
from jlce.registry import get_registry
from jlce.repeats import agreement, majority
from jlce.reasoning import answer_text, generation_facts
from jlce.requests import GenerateResult, LoglikelihoodResult, generation_params
from jlce.samples import SampleView
from jlce.specs import MetricResult, resolve
from jlce.stats import bootstrap_estimate, mean_estimate
from jlce.task import Task
from jlce.taskprotocol import Instance, SelfScoringTask, TaskScores

BOOTSTRAP_DRAWS = 1000


def _apply_filters(task: Task, text: str) -> str:
    registry = get_registry()
    for step in task.config.filters:
        spec = registry.get("filters", step.name)
        text = call_filter(spec, resolve(spec.fn), text, step.args)
    return text


def sample_view(task: Task, instance: Instance, answers: list[Any]) -> SampleView:
    kind = task.config.output_type
    if kind == "multiple_choice":
        results: list[LoglikelihoodResult] = answers
        logprobs = tuple(r.logprob for r in results)
        pred = int(np.argmax(logprobs))
        if instance.choices is None:
            raise TypeError(f"multiple_choice item {instance.doc_id} has no choices")
        return SampleView(
            doc_id=instance.doc_id, doc=instance.doc, prediction=instance.choices[pred], references=instance.references,
            gold=instance.gold, pred_index=pred, choices=instance.choices, choice_logprobs=logprobs,
            choice_tokens=tuple(r.n_tokens for r in results),
        )
    if kind == "generate_until":
        result: GenerateResult = answers[0]
        return SampleView(  # filters read the answer, past the reasoning (jlce.reasoning)
            doc_id=instance.doc_id, doc=instance.doc, prediction=_apply_filters(task, answer_text(result)),
            references=instance.references, raw_response=result.text, n_tokens=result.n_tokens,
            extra=generation_facts(result),
        )
    result_ll: LoglikelihoodResult = answers[0]
    return SampleView(
        doc_id=instance.doc_id, doc=instance.doc, prediction=instance.target, references=instance.references,
        logprob=result_ll.logprob, n_tokens=result_ll.n_tokens, is_greedy=result_ll.is_greedy,
    )


def sample_views(task: Task, instance: Instance, answers: list[Any]) -> list[SampleView]:
    """The item's views, one per sample (one for log-likelihood kinds)."""
    if getattr(task, "generative_mc", False):
        return [_generated_choice_view(task, instance, result) for result in answers]
    if task.config.output_type == "generate_until":
        return [sample_view(task, instance, [result]) for result in answers]
    return [sample_view(task, instance, answers)]


def _generated_choice_view(task: Task, instance: Instance, result: GenerateResult) -> SampleView:
    """A multiple-choice item answered in text: the label or choice read after the reasoning."""
    from jlce.filters import strip_think
    from jlce.mcgen import UNPARSEABLE, extract_choice, labels_for

    choices = instance.choices or ()
    answer = strip_think(answer_text(result))
    pred = extract_choice(answer, labels_for(task.config.mc_generate.labels, len(choices)), choices)
    return SampleView(
        doc_id=instance.doc_id, doc=instance.doc, prediction=choices[pred] if pred != UNPARSEABLE else answer,
        references=instance.references, gold=instance.gold, pred_index=pred, choices=choices,
        raw_response=result.text, n_tokens=result.n_tokens, extra={"answer": answer, **generation_facts(result)},
    )


def _metric_entry(spec: Any, views: list[list[SampleView]], args: dict[str, Any], task: Task) -> tuple[dict[str, Any], list[list[float]] | None]:
    """One metric over n items x k samples. Per-item metrics: the item's score is the mean over its
    samples (pass@1 when scores are 0/1) and the interval is over the n item means (items are the
    clusters). Corpus metrics: the mean over j of the metric on every item's j-th sample, with a
    bootstrap over whole items. Returns the entry and the per-sample scores (n x k) when per-item."""
    fn = resolve(spec.fn)
    k = len(views[0]) if views else 1

    def compute(selected: list[SampleView]) -> MetricResult:
        # arguments were checked against the signature before the run (jlce.pluginargs): what
        # goes wrong now is the metric's own doing, reported as its plugin's
        return call_metric(spec, fn, selected, args)

    def over_samples(items: Any) -> float:
        return float(np.mean([compute([views[i][j] for i in items]).value for j in range(k)]))

    per_sample: list[list[float]] | None = None
    if spec.corpus:
        results = [compute([item[j] for item in views]) for j in range(k)]
        value = float(np.mean([r.value for r in results]))
        info = results[0].info
        estimate = bootstrap_estimate(value, len(views), over_samples, draws=BOOTSTRAP_DRAWS, seed=0)
    else:
        result = compute([view for item in views for view in item])
        value, info = result.value, result.info
        if result.per_item is not None:
            per_sample = [list(result.per_item[i * k:(i + 1) * k]) for i in range(len(views))]
            item_means = [float(np.mean(scores)) for scores in per_sample]
            value = float(np.mean(item_means)) if k > 1 and item_means else value
            estimate = mean_estimate(item_means)
        else:
            estimate = mean_estimate([result.value])
    method = estimate.method if k == 1 else f"{estimate.method} over item means (k={k} samples clustered by item)"
    if k > 1:
        info = {**info, "k": k, "aggregate": f"mean over the {k} samples of each item, then over items"}
    entry = {
        "value": _finite(value),
        "stderr": _finite(estimate.stderr),
        "ci95": [_finite(estimate.ci95[0]), _finite(estimate.ci95[1])] if estimate.ci95 else None,
        "interval_method": method,
        "higher_is_better": spec.higher_is_better,
        "corpus": spec.corpus,
        "info": info,
    }
    return entry, per_sample


def _finite(value: float | None) -> float | None:
    if value is None or (isinstance(value, float) and (math.isnan(value) or math.isinf(value))):
        return None
    return float(value)


def _answer_key(view: SampleView) -> Any:
    """What a majority vote compares: the chosen index (generative multiple choice) or the
    normalized answer text; None when there is no answer (unparseable, empty)."""
    from jlce.mcgen import UNPARSEABLE
    from jlce.metrics.japanese import normalize_answer

    if view.pred_index is not None:
        return None if view.pred_index == UNPARSEABLE else view.pred_index
    return normalize_answer(view.prediction) or None


def _over_samples(spec: Any, name: str, per_sample: list[list[float]], winners: list[int]) -> dict[str, tuple[dict, list[float]]]:
    """pass@k (k = 2, 4, ..., n) and maj@n entries of a 0/1 metric, with their per-item values."""
    from jlce.repeats import pass_at_k, pass_k_values

    k = len(per_sample[0])
    derived: dict[str, list[float]] = {}
    for kk in pass_k_values(k):
        derived[f"{name}_pass@{kk}"] = [pass_at_k(k, int(sum(scores)), kk) for scores in per_sample]
    derived[f"{name}_maj@{k}"] = [scores[w] for scores, w in zip(per_sample, winners)]
    out = {}
    for derived_name, values in derived.items():
        estimate = mean_estimate(values)
        kind = "majority vote" if "_maj@" in derived_name else "unbiased pass@k (Chen et al. 2021)"
        out[derived_name] = ({
            "value": _finite(float(np.mean(values))), "stderr": _finite(estimate.stderr),
            "ci95": [_finite(estimate.ci95[0]), _finite(estimate.ci95[1])] if estimate.ci95 else None,
            "interval_method": f"{estimate.method} over items", "higher_is_better": spec.higher_is_better,
            "corpus": False, "info": {"k": k, "of": name, "estimator": kind},
        }, values)
    return out


def score_task(task: Task, answers: list[list[Any]]) -> TaskScores:
    """`answers[i]` are the results of `task.instances[i].requests`, in order (k results for k samples)."""
    if isinstance(task, SelfScoringTask):  # the lm-eval bridge scores with lm-eval's own functions
        return task.score(answers)
    registry = get_registry()
    views = [sample_views(task, instance, ans) for instance, ans in zip(task.instances, answers)]
    k = len(views[0]) if views else 1
    keys = [[_answer_key(v) for v in item] for item in views] if k > 1 else []
    winners = [majority(item_keys)[0] for item_keys in keys]
    metrics: dict[str, dict[str, Any]] = {}
    per_sample: dict[str, list[list[float]]] = {}
    for ref in task.config.metrics:
        spec = registry.get("metrics", ref.name)
        try:
            metrics[ref.name], scores = _metric_entry(spec, views, ref.args, task)
        except UserError as error:
            if not getattr(task, "generative_mc", False):
                raise
            # e.g. acc_norm_* need choice log-probabilities, which a generated answer has not
            metrics[ref.name] = {"value": None, "stderr": None, "ci95": None, "interval_method": "none",
                                 "higher_is_better": spec.higher_is_better, "corpus": spec.corpus,
                                 "info": {"unavailable": f"not computable with --mc-mode generate: {error}"}}
            continue
        if scores is not None:
            per_sample[ref.name] = scores
        if k > 1 and scores is not None and all(v in (0.0, 1.0) for item in scores for v in item):
            for name, (entry, values) in _over_samples(spec, ref.name, scores, winners).items():
                metrics[name] = entry
                per_sample[name] = [[v] for v in values]
    sampling: dict[str, Any] = {}
    if k > 1:
        rates = [agreement(item_keys) for item_keys in keys]
        sampling["agreement"] = {"mean": _finite(float(np.mean(rates))), "all_agree": sum(r == 1.0 for r in rates),
                                 "definition": "share of an item's samples giving its majority answer"}
    if getattr(task, "generative_mc", False):
        from jlce.mcgen import UNPARSEABLE

        bad = sum(v.pred_index == UNPARSEABLE for item in views for v in item)
        sampling["unparseable"] = {"samples": bad, "of": sum(len(item) for item in views),
                                   "note": "an answer naming no single choice counts as wrong"}
    samples = [_sample_row(task, instance, item, {name: float(np.mean(values[i])) for name, values in per_sample.items()},
                           {name: values[i] for name, values in per_sample.items() if len(values[i]) == k})
               for i, (instance, item) in enumerate(zip(task.instances, views))]
    return TaskScores(metrics=metrics, samples=samples, sampling=sampling)


def _sample_row(task: Task, instance: Instance, views: list[SampleView], values: dict[str, float],
                by_sample: dict[str, list[float]]) -> dict[str, Any]:
    """One line of samples/<task>.jsonl: the item, its score per metric (the mean over its samples),
    and with k > 1 each sample's response and scores under `samples`."""
    view = views[0]
    row: dict[str, Any] = {"doc_id": instance.doc_id, "prompt": instance.prompt, "target": instance.target}
    if len(instance.references) > 1 or instance.references[0] != instance.target:
        row["references"] = list(instance.references)
    if view.choices is not None:
        row["gold"] = view.gold
        row["pred_index"] = view.pred_index
        if view.choice_logprobs is not None:
            row["choices"] = [{"text": text, "logprob": lp, "tokens": nt}
                              for text, lp, nt in zip(view.choices, view.choice_logprobs or (), view.choice_tokens or ())]
        else:
            row["choices"] = [{"text": text} for text in view.choices]
    if view.raw_response is not None and len(views) == 1:
        row["response"] = {"raw": view.raw_response, "filtered": view.extra.get("answer", view.prediction)}
        row["generated_tokens"] = view.n_tokens
        row.update({key: view.extra[key] for key in ("finish_reason", "reasoning") if key in view.extra})
        seed = generation_params(instance.requests[0]).seed if instance.requests else None
        if seed is not None:
            row["seed"] = seed
    elif view.raw_response is None and view.choices is None:
        row["logprob"] = view.logprob
        row["tokens"] = view.n_tokens
    if len(views) > 1:
        row.pop("pred_index", None)
        row["samples"] = [_sample_detail(v, request, {name: scores[j] for name, scores in by_sample.items()})
                          for j, (v, request) in enumerate(zip(views, instance.requests))]
    row["metrics"] = {name: _finite(value) for name, value in values.items()}
    return row


def _sample_detail(view: SampleView, request: Any, values: dict[str, float]) -> dict[str, Any]:
    detail: dict[str, Any] = {"seed": request.params.seed,
                              "response": {"raw": view.raw_response, "filtered": view.extra.get("answer", view.prediction)},
                              "generated_tokens": view.n_tokens}
    detail.update({key: view.extra[key] for key in ("finish_reason", "reasoning") if key in view.extra})
    if view.pred_index is not None:
        detail["pred_index"] = view.pred_index
    detail["metrics"] = {name: _finite(value) for name, value in values.items()}
    return detail
