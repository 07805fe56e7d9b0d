"""lm-evaluation-harness tasks run through JLCE: `jlce run --tasks lmeval:<task-or-group>`.

lm-eval supplies the documents, prompts and requests (its own task loading, few-shot sampling with
its default seed 1234, filters); JLCE answers the requests with its backends, request cache and
profilers, and writes its results format; the scores come from the task's own `process_results`
and aggregation functions, so metric values are lm-eval's. A group runs as its tasks, each
reported on its own (`lmeval:<task>`); lm-eval's group averages are not computed here.
`--include-path` directories are also searched for lm-eval task YAMLs.

lm-eval is optional (`pip install 'jlce[lmeval]'`) and imported only when an `lmeval:` task is used.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jlce.errors import DataError, UserError, did_you_mean
from jlce.taskprotocol import Instance as TaskInstance, TaskScores
from jlce.requests import (
    GenerateRequest,
    GenerationParams,
    LoglikelihoodRequest,
    Request,
    RollingLoglikelihoodRequest,
)

PREFIX = "lmeval:"
FEWSHOT_SEED = 1234  # lm-eval's default `fewshot_random_seed`
PACKAGED_BUILDERS = ("json", "csv", "parquet", "text", "arrow")  # datasets' builders for local files


@dataclass(frozen=True)
class BridgeConfig:
    """The parts of a task definition that the evaluator and the results writer read."""

    task: str
    version: str
    output_type: str
    headline_metric: str
    category: str = "lmeval"
    fewshot: None = None
    filters: tuple = ()
    metrics: tuple = ()
    judge: None = None  # lm-eval tasks are scored by lm-eval, never by a judge model


@dataclass
class Instance(TaskInstance):
    """One lm-eval document as JLCE's evaluator sees it, with lm-eval's own request objects."""

    lm_instances: list[Any] = field(default_factory=list)  # lm-eval Instances, in request order (by idx)


def _version(lm_task) -> str:
    metadata = getattr(lm_task.config, "metadata", None) or {}
    return str(metadata.get("version", getattr(lm_task, "VERSION", None) or "0"))


def _sha256(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def _generation_params(kwargs: dict[str, Any], copy: int) -> GenerationParams:
    """lm-eval's generation kwargs as JLCE parameters (`max_gen_toks` and its aliases, `until`)."""
    until = kwargs.get("until") or []
    until = [until] if isinstance(until, str) else list(until)
    budget = next((kwargs[k] for k in ("max_gen_toks", "max_new_tokens", "max_tokens", "max_completion_tokens")
                   if kwargs.get(k) is not None), 256)
    sampling = bool(kwargs.get("do_sample")) or float(kwargs.get("temperature") or 0.0) > 0
    temperature = float(kwargs.get("temperature") or (1.0 if sampling else 0.0)) if sampling else 0.0
    return GenerationParams(until=tuple(until), max_new_tokens=int(budget), temperature=temperature,
                            top_p=float(kwargs.get("top_p") or 1.0), seed=copy if sampling else None)


def _request(lm_instance, copy: int) -> Request:
    args = lm_instance.arguments
    kind = lm_instance.request_type
    if kind == "loglikelihood":
        return LoglikelihoodRequest(args[0], args[1])
    if kind == "loglikelihood_rolling":
        return RollingLoglikelihoodRequest(args[0])
    if kind == "generate_until":
        return GenerateRequest(args[0], _generation_params(dict(args[1] or {}), copy))
    raise UserError(f"lm-eval request type '{kind}' is not supported by JLCE")


def _response(kind: str, result) -> Any:
    """A JLCE answer in the shape lm-eval's `process_results` expects."""
    if kind == "loglikelihood":
        return (result.logprob, result.is_greedy)
    if kind == "loglikelihood_rolling":
        return result.logprob
    return result.text


def _plain(value: Any) -> Any:
    """JSON-friendly copy of a response (tuples become lists)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


class LmevalTask:
    """An lm-eval task behind the interface the evaluator uses (`build`, `instances`, `config`,
    hashes) plus `score`, which replaces JLCE's metric registry with the task's own functions."""

    def __init__(self, lm_task, lm_name: str, yaml_path: Path | None):
        self.lm_task = lm_task
        self.lm_name = lm_name
        self.path = yaml_path or Path(PREFIX + lm_name)
        metrics = [m["metric"] for m in (lm_task.config.metric_list or []) if isinstance(m.get("metric"), str)]
        self.config = BridgeConfig(
            task=PREFIX + lm_name, version=_version(lm_task), output_type=lm_task.OUTPUT_TYPE,
            headline_metric=metrics[0] if metrics else next(iter(lm_task.aggregation()), "acc"),
        )
        dump = getattr(lm_task, "dump_config", None)
        self.definition_hash = _sha256(dump() if dump else vars(lm_task.config))
        self.instances: list[Instance] = []
        self.data_hash = ""
        self.data_source = "hub"
        self.data_files: list[dict[str, str]] = []
        self.num_fewshot = 0
        self.fewshot_ids: list[int] = []
        self._limit: int | None = None
        from jlce.sampling import TaskSampling

        self.sampling = TaskSampling(sources=(("decoding", "task"),))

    @property
    def name(self) -> str:
        return self.config.task

    @property
    def version(self) -> str:
        return self.config.version

    def build(self, *, limit: int | None = None, num_fewshot: int | None = None, data: str = "auto",
              sampling: Any = None) -> None:
        """Let lm-eval build its requests (as `simple_evaluate` does) and mirror them as JLCE requests.
        Decoding (and repeats) are the lm-eval task's own `generation_kwargs`/`repeats`; `sampling`
        is recorded only."""
        if sampling is not None:
            self.sampling = sampling
        if data == "fixture":
            raise DataError(f"{self.name}: lm-eval tasks have no fixture data; run with --data auto")
        task = self.lm_task
        configured = task.get_config("num_fewshot")
        if num_fewshot is not None and configured != 0:
            task.set_config(key="num_fewshot", value=num_fewshot)
        elif configured is None:
            task.set_config(key="num_fewshot", value=0)
        task.set_fewshot_seed(seed=FEWSHOT_SEED)
        task.build_all_requests(limit=limit, rank=0, world_size=1, cache_requests=False, rewrite_requests_cache=False,
                                system_instruction=None, apply_chat_template=False, fewshot_as_multiturn=False,
                                chat_template=None, tokenizer_name="")
        self._limit = limit
        by_doc: dict[int, list[Any]] = {}
        for lm_instance in task.instances:
            by_doc.setdefault(lm_instance.doc_id, []).append(lm_instance)
        self.instances = []
        for doc_id, doc in task.doc_iterator(rank=0, limit=limit, world_size=1):
            lm_instances = sorted(by_doc.get(doc_id, []), key=lambda i: i.idx)
            requests = [_request(i, copy) for i in lm_instances for copy in range(i.repeats)]
            target = task.doc_to_target(doc)
            choices = task.doc_to_choice(doc) if self.config.output_type == "multiple_choice" else None
            gold = target if isinstance(target, int) and choices else None
            shown = choices[gold] if choices and gold is not None and 0 <= gold < len(choices) else str(target)
            self.instances.append(Instance(
                doc_id=doc_id, doc=dict(doc), prompt=lm_instances[0].arguments[0] if lm_instances else "",
                target=shown, references=(shown,), requests=requests,
                choices=tuple(str(c) for c in choices) if choices else None, gold=gold, lm_instances=lm_instances,
            ))
        self.num_fewshot = int(task.get_config("num_fewshot") or 0)
        self.data_hash = _sha256({"eval": [i.doc for i in self.instances], "num_fewshot": self.num_fewshot,
                                  "fewshot_seed": FEWSHOT_SEED})
        self._describe_data()

    def _describe_data(self) -> None:
        config = self.lm_task.config
        files = ((config.dataset_kwargs or {}).get("data_files")) if config.dataset_path in PACKAGED_BUILDERS else None
        self.data_source = "packaged" if config.dataset_path in PACKAGED_BUILDERS else "hub"
        paths = [files] if isinstance(files, str) else list(files.values()) if isinstance(files, dict) else list(files or [])
        flat = [p for item in paths for p in ([item] if isinstance(item, str) else item)]
        self.data_files = [{"name": Path(p).name, "sha256": hashlib.sha256(Path(p).read_bytes()).hexdigest()}
                           for p in flat if Path(p).is_file()]

    def score(self, answers: list[list[Any]]) -> TaskScores:
        """Scores from lm-eval's filters, `process_results` and aggregation functions."""
        task = self.lm_task
        for instance, results in zip(self.instances, answers):
            at = 0
            for lm_instance in instance.lm_instances:
                lm_instance.resps = [_response(lm_instance.request_type, r) for r in results[at:at + lm_instance.repeats]]
                at += lm_instance.repeats
        task.apply_filters()
        keys = list(self.instances[0].lm_instances[0].filtered_resps) if self.instances and self.instances[0].lm_instances else []
        raw: dict[str, list[Any]] = {}
        per_doc: list[dict[str, Any]] = [{} for _ in self.instances]
        filtered: list[dict[str, Any]] = [{} for _ in self.instances]
        for key in keys:
            for position, instance in enumerate(self.instances):
                responses = [i.filtered_resps[key] for i in instance.lm_instances]
                filtered[position][key] = _plain(responses)
                for metric, value in task.process_results(instance.doc, responses).items():
                    name = metric if key == "none" else f"{metric},{key}"
                    raw.setdefault(name, []).append(value)
                    per_doc[position][name] = value
        metrics = {name: self._aggregate(name, values) for name, values in raw.items()}
        samples = [self._sample_row(instance, answer, per_doc[i], filtered[i])
                   for i, (instance, answer) in enumerate(zip(self.instances, answers))]
        return TaskScores(metrics=metrics, samples=samples)

    def _aggregate(self, name: str, values: list[Any]) -> dict[str, Any]:
        from lm_eval.api.metrics import mean

        from jlce.stats import bootstrap_estimate, mean_estimate

        metric = name.split(",", 1)[0]
        function = self.lm_task.aggregation().get(metric, mean)
        value = float(function(values))
        if function is mean and all(isinstance(v, (int, float)) for v in values):
            estimate = mean_estimate([float(v) for v in values])
            corpus = False
        else:
            estimate = bootstrap_estimate(value, len(values), lambda idx: float(function([values[i] for i in idx])),
                                          draws=1000, seed=0)
            corpus = True
        finite = lambda x: None if x is None or not math.isfinite(x) else float(x)
        return {
            "value": finite(value), "stderr": finite(estimate.stderr),
            "ci95": [finite(estimate.ci95[0]), finite(estimate.ci95[1])] if estimate.ci95 else None,
            "interval_method": estimate.method,
            "higher_is_better": bool(self.lm_task.higher_is_better().get(metric, True)),
            "corpus": corpus, "info": {"source": "lm-eval", "aggregation": getattr(function, "__name__", str(function))},
        }

    def _sample_row(self, instance: Instance, answer: list[Any], values: dict[str, Any], filtered: dict[str, Any]):
        row: dict[str, Any] = {"doc_id": instance.doc_id, "prompt": instance.prompt, "target": instance.target}
        kind = self.config.output_type
        if kind == "multiple_choice" and instance.choices:
            logprobs = [r.logprob for r in answer]
            row["gold"] = instance.gold
            row["pred_index"] = max(range(len(logprobs)), key=logprobs.__getitem__)
            row["choices"] = [{"text": text, "logprob": r.logprob, "tokens": r.n_tokens}
                              for text, r in zip(instance.choices, answer)]
        elif kind == "generate_until":
            first = next(iter(filtered.values()), [[None]])[0]
            row["response"] = {"raw": answer[0].text if answer else "", "filtered": first[0] if isinstance(first, list) and first else first}
            row["generated_tokens"] = sum(r.n_tokens for r in answer)
        else:
            row["logprob"] = sum(r.logprob for r in answer)
            row["tokens"] = sum(r.n_tokens for r in answer)
        row["filtered_responses"] = filtered
        row["metrics"] = {k: (float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None)
                          for k, v in values.items() if isinstance(v, (int, float))}
        return row


def _manager(names: Sequence[str], include_paths: Iterable[Path]):
    """lm-eval's TaskManager: only the include paths when they hold every name (fast), else all
    of lm-eval's ~14,000 task files too."""
    from lm_eval.tasks import TaskManager

    paths = [str(Path(p)) for p in include_paths]
    if paths:
        local = TaskManager(include_path=paths, include_defaults=False)
        if all(name in local.all_tasks for name in names):
            return local
    return TaskManager(include_path=paths or None)


def load_lmeval_tasks(names: Sequence[str], include_paths: Iterable[Path] = ()) -> list[LmevalTask]:
    """Bridge tasks for lm-eval task, group or tag names (without the `lmeval:` prefix)."""
    import importlib.util

    if importlib.util.find_spec("lm_eval") is None:
        raise UserError("lmeval: tasks need lm-evaluation-harness: pip install 'jlce[lmeval]'")
    names = [n.strip() for n in names if n.strip()]
    if not names:
        raise UserError("give an lm-eval task after 'lmeval:', e.g. lmeval:hellaswag")
    manager = _manager(names, include_paths)
    for name in names:
        if name not in manager.all_tasks:
            raise UserError(f"unknown lm-eval task or group '{name}'{did_you_mean(name, manager.all_tasks)}; "
                            "see `lm_eval ls tasks`")
    loaded = manager.load(list(names))
    tasks = []
    for lm_name, lm_task in loaded["tasks"].items():
        entry = manager.task_index.get(lm_name)
        tasks.append(LmevalTask(lm_task, lm_name, getattr(entry, "yaml_path", None)))
    return tasks
