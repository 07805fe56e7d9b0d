"""A loaded task: validated definition, data, few-shot examples, rendered prompts, requests."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jlce.data.loader import DataSource, SplitData, load_split
from jlce.errors import ConfigError, DataDamaged, DataError, DataMissing, UserError, did_you_mean
from jlce.fewshot import FewshotPlan, plan as plan_fewshot
from jlce.mcgen import DEFAULT_TEMPLATE, labels_for, render_item
from jlce.prompts import Template
from jlce.registry import get_registry
from jlce.sampling import DEFAULT_SEED, Overrides, TaskSampling, resolve_sampling
from jlce.requests import GenerateRequest, GenerationParams, LoglikelihoodRequest, Request, RollingLoglikelihoodRequest
from jlce.taskindex import TaskEntry, task_index
from jlce.taskload import load_task_config
from jlce.taskprotocol import Instance
from jlce.taskschema import TaskConfig
from jlce.yamlfile import load_yaml


class ItemDataError(DataError):
    """One item's value that cannot be scored; `key` is the task key (or document field) involved."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(message)


@dataclass
class Task:
    config: TaskConfig
    path: Path
    definition_hash: str
    instances: list[Instance] = field(default_factory=list)
    data_hash: str = ""
    data_source: str = ""
    data_files: list[dict[str, str]] = field(default_factory=list)
    num_fewshot: int = 0
    fewshot_ids: list[int] = field(default_factory=list)
    sampling: TaskSampling = field(default_factory=TaskSampling)  # decoding and repeats (jlce.sampling)

    @property
    def generative_mc(self) -> bool:
        """A multiple-choice task asked generatively (choices listed, answer read from text)."""
        return self.config.output_type == "multiple_choice" and self.sampling.mc_mode == "generate"

    @property
    def name(self) -> str:
        return self.config.task

    @property
    def version(self) -> str:
        return self.config.version

    @classmethod
    def from_entry(cls, entry: TaskEntry) -> Task:
        config, definition_hash = load_task_config(entry.path)
        if config.task != entry.name:
            raise ConfigError(f"task name '{config.task}' differs from the indexed name '{entry.name}'", file=entry.path, key="task")
        task = cls(config=config, path=entry.path, definition_hash=definition_hash)
        task._check_names()
        task._templates()  # syntax errors surface at load time
        return task

    # ---- validation -----------------------------------------------------------------------

    def _check_names(self) -> None:
        registry = get_registry()
        lines = load_yaml(self.path).lines
        checks: list[tuple[str, str, str, tuple[str | int, ...]]] = [
            ("metrics", "metrics", m.name, ("metrics", i, "name")) for i, m in enumerate(self.config.metrics)]
        checks += [("filters", "filters", f.name, ("filters", i, "name")) for i, f in enumerate(self.config.filters)]
        checks += [("readers", "dataset.format", self.config.dataset.format, ("dataset", "format"))]
        checks += [("processors", "dataset.process", p.name, ("dataset", "process", i, "name")) for i, p in enumerate(self.config.dataset.process)]
        for kind, key, name, loc in checks:
            table = getattr(registry, kind)
            if name not in table:
                human = {"metrics": "metric", "filters": "filter", "readers": "data format", "processors": "document processor"}[kind]
                raise ConfigError(f"unknown {human} '{name}'{did_you_mean(name, table)}", file=self.path, line=lines.get(loc), key=key)

    def _templates(self) -> dict[str, Any]:
        lines = load_yaml(self.path).lines

        def make(key: str, source: str, loc: tuple) -> Template:
            return Template(source, file=self.path, key=key, line=lines.get(loc))

        c = self.config
        return {
            "instruction": make("instruction", c.instruction, ("instruction",)),
            "prompt": make("prompt", c.prompt, ("prompt",)),
            "target": make("target", c.target, ("target",)) if c.target is not None else None,
            "gold": make("gold", c.gold, ("gold",)) if c.gold is not None else None,
            "choices": [make(f"choices.{i}", s, ("choices", i)) for i, s in enumerate(c.choices or [])],
            "mc_generate": make("mc_generate.template", c.mc_generate.template or DEFAULT_TEMPLATE,
                                ("mc_generate", "template") if c.mc_generate.template else ("output_type",)),
        }

    # ---- building -------------------------------------------------------------------------

    def build(self, *, limit: int | None = None, num_fewshot: int | None = None, data: DataSource = "auto",
              sampling: TaskSampling | None = None) -> None:
        """Load data, choose few-shot examples and render every item's prompt and requests."""
        c = self.config
        self.sampling = sampling or resolve_sampling(c, DEFAULT_SEED, Overrides(), Overrides())
        templates = self._templates()
        eval_data = load_split(c.task, c.dataset, c.eval_split, self.path, data)
        if not eval_data.docs:
            raise DataDamaged(f"task '{c.task}': the evaluation split '{c.eval_split}' has no items "
                              f"({', '.join(name for name, _ in eval_data.files) or 'no files'}): nothing to score")
        docs = eval_data.docs if limit is None else eval_data.docs[:limit]
        self._check_items(docs, range(len(docs)), eval_data, c.eval_split, templates)
        n_shots = c.fewshot.n if (num_fewshot is None and c.fewshot) else (num_fewshot or 0)
        fewshot_plan = FewshotPlan()
        fewshot_data: SplitData | None = None
        if n_shots:
            if c.fewshot is None:
                raise UserError(f"task '{c.task}' defines no few-shot split; use --num-fewshot 0")
            fewshot_data = eval_data if c.fewshot.split == c.eval_split else self._load_fewshot_split(data)
            fewshot_plan = self._choose_fewshot(fewshot_data, n_shots, same_split=c.fewshot.split == c.eval_split,
                                                n_eval=len(docs), templates=templates)
        self.num_fewshot = n_shots
        pool = fewshot_data.docs if fewshot_data is not None else []
        self.instances = [self._instance(i, doc, [pool[j] for j in fewshot_plan.for_item(i)], templates)
                          for i, doc in enumerate(docs)]
        used: dict[str, Any] = {"eval": docs, "fewshot_ids": self.fewshot_ids}
        if fewshot_plan.per_item is not None:
            used["fewshot_ids_per_item"] = fewshot_plan.per_item
        self.data_hash = hashlib.sha256(json.dumps(used, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()
        self.data_source = eval_data.source
        files = list(eval_data.files) + (list(fewshot_data.files) if fewshot_data and fewshot_data is not eval_data else [])
        self.data_files = [{"name": name, "sha256": sha} for name, sha in files]

    def _load_fewshot_split(self, data: DataSource) -> SplitData:
        c = self.config
        assert c.fewshot is not None
        try:
            return load_split(c.task, c.dataset, c.fewshot.split, self.path, data)
        except DataMissing as error:
            raise DataMissing(f"{error}. The few-shot examples come from split '{c.fewshot.split}': "
                              f"`--num-fewshot 0` evaluates '{c.task}' zero-shot without it") from None

    def _choose_fewshot(self, data: SplitData, n: int, *, same_split: bool, n_eval: int, templates: dict[str, Any]) -> FewshotPlan:
        """Which pool documents each item is shown (jlce.fewshot); the chosen ones are checked
        like evaluated items."""
        fewshot = self.config.fewshot
        assert fewshot is not None
        pool = data.docs
        candidates = list(range(n_eval, len(pool)) if same_split else range(len(pool)))  # never an evaluated item
        label_of = None
        if fewshot.sampler == "stratified":
            self._check_items(pool, candidates, data, fewshot.split, templates)
            label_of = lambda i: self._label(pool[i], templates)  # noqa: E731
        chosen = plan_fewshot(fewshot.sampler, candidates, n, fewshot.seed, n_eval, task=self.name, label_of=label_of)
        self._check_items(pool, chosen.all_ids, data, fewshot.split, templates)
        self.fewshot_ids = chosen.all_ids
        return chosen

    def _label(self, doc: dict[str, Any], t: dict[str, Any]) -> Any:
        """What the stratified sampler balances: the gold choice, else the rendered target."""
        if t["gold"] is not None:
            return self._gold(doc, t, self._choices(doc, t))
        return t["target"].render(doc) if t["target"] is not None else ""

    def _check_items(self, docs: list[dict[str, Any]], indices, data: SplitData, split: str, t: dict[str, Any]) -> None:
        """Refuse an item whose choices or gold cannot be scored, naming the file, item and field."""
        if self.config.output_type != "multiple_choice":
            return
        files = ", ".join(name for name, _ in data.files) or "no files"
        for i in indices:
            where = f"task '{self.name}', {files} (split '{split}'), item {i} (0-based)"
            try:
                self._gold(docs[i], t, self._choices(docs[i], t))
            except ItemDataError as error:
                template = t["gold"] if error.key == "gold" else None
                if error.key.startswith("choices."):
                    template = t["choices"][int(error.key.split(".")[1])]
                origin = f" (template: {self.path}{f':{template.line}' if template and template.line else ''}, key '{error.key}')"
                raise DataDamaged(f"{where}, field '{error.key}': {error}{origin if template else ''}") from None
            except ConfigError as error:
                if error.key not in ("gold", "choices_field") and not str(error.key).startswith("choices"):
                    raise
                raise DataDamaged(f"{where}, field '{error.key}': {error.detail} "
                                  f"(template: {error.file}{f':{error.line}' if error.line else ''}, key '{error.key}')") from None

    def _instance(self, doc_id: int, doc: dict[str, Any], shots: list[dict[str, Any]], t: dict[str, Any]) -> Instance:
        c = self.config
        if c.output_type == "generate_chat":  # a conversation, asked turn by turn
            from jlce.multiturn import chat_instance

            return chat_instance(self, doc_id, doc, t)
        choices = self._choices(doc, t)
        gold = self._gold(doc, t, choices)
        target = t["target"].render(doc) if t["target"] else (choices[gold] if choices and gold is not None else "")
        references = self._references(doc, target)
        parts = []
        instruction = t["instruction"].render(doc)
        if instruction:
            parts.append(instruction + c.fewshot_delimiter)
        for shot in shots:
            shot_choices = self._choices(shot, t)
            shot_target = t["target"].render(shot) if t["target"] else shot_choices[self._shot_gold(shot, t, shot_choices)]
            if self.generative_mc:
                shot_target = labels_for(c.mc_generate.labels, len(shot_choices))[self._shot_gold(shot, t, shot_choices)]
                parts.append(self._mc_question(shot, shot_choices, t) + c.target_delimiter + shot_target + c.fewshot_delimiter)
                continue
            parts.append(t["prompt"].render(shot) + c.target_delimiter + shot_target + c.fewshot_delimiter)
        prompt = "".join(parts) + (self._mc_question(doc, choices, t) if self.generative_mc else t["prompt"].render(doc))
        requests: list[Request]
        if self.generative_mc:
            m = c.mc_generate
            requests = self._sample_requests(prompt, doc_id, tuple(m.until), m.max_new_tokens)
        elif c.output_type == "multiple_choice":
            requests = [LoglikelihoodRequest(prompt, c.target_delimiter + choice) for choice in choices]
        elif c.output_type == "loglikelihood":
            requests = [LoglikelihoodRequest(prompt, c.target_delimiter + target)]
        elif c.output_type == "loglikelihood_rolling":
            requests = [RollingLoglikelihoodRequest(prompt)]
        else:
            requests = self._sample_requests(prompt, doc_id, tuple(c.generation.until), c.generation.max_new_tokens)
        return Instance(doc_id, doc, prompt, target, references, requests, tuple(choices) if choices else None, gold,
                        query=prompt[sum(map(len, parts)):])

    def _mc_question(self, doc: dict[str, Any], choices: list[str], t: dict[str, Any]) -> str:
        labels = labels_for(self.config.mc_generate.labels, len(choices))
        if len(labels) < len(choices):
            raise ConfigError(f"mc_generate.labels has {len(labels)} labels but an item has {len(choices)} choices",
                              file=self.path, key="mc_generate.labels")
        return render_item(t["mc_generate"], doc, t["prompt"].render(doc), labels, choices)

    def _sample_requests(self, prompt: str, doc_id: int, until: tuple[str, ...], task_budget: int) -> list[Request]:
        """k generation requests, one per sample, each with its own seed (jlce.sampling). The
        task's own budget applies unless the command line or a preset sets one."""
        s = self.sampling
        budget = s.max_new_tokens if dict(s.sources).get("max_new_tokens") in ("cli", "preset") else task_budget
        return [GenerateRequest(prompt, GenerationParams(until=until, max_new_tokens=budget, temperature=s.temperature,
                                                         top_p=s.top_p, seed=seed))
                for seed in s.seeds(self.name, doc_id)]

    def _choices(self, doc: dict[str, Any], t: dict[str, Any]) -> list[str]:
        c = self.config
        if c.choices_field is not None:
            value = doc.get(c.choices_field)
            if not isinstance(value, list) or not value:
                raise ConfigError(f"document field '{c.choices_field}' is not a non-empty list", file=self.path, key="choices_field")
            choices = [str(v) for v in value]
            field_name = f"{c.choices_field}[{{k}}]"
        else:
            choices = [template.render(doc) for template in t["choices"]]
            field_name = "choices.{k}"
        for k, choice in enumerate(choices):
            if not choice.strip():  # an empty continuation has log-likelihood 0: it would always win
                raise ItemDataError(field_name.format(k=k), f"choice {k} is empty")
        return choices

    def _gold(self, doc: dict[str, Any], t: dict[str, Any], choices: list[str]) -> int | None:
        """The gold choice's index. An int (or integral float) value is an index; text is a
        choice's text or an integer index. Anything else, or text that reads both ways and points
        at different choices (choices that are themselves numbers), is refused."""
        if t["gold"] is None:
            return None
        value = t["gold"].value(doc)
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ItemDataError("gold", f"{value!r} is not a choice index or a choice's text")
        if isinstance(value, float):
            if not value.is_integer():
                raise ItemDataError("gold", f"label {value!r} is not an integer choice index")
            value = int(value)
        if isinstance(value, str):
            text = value.strip()
            as_text = choices.index(text) if text in choices else None
            as_index = int(text) if re.fullmatch(r"[+-]?[0-9]{1,18}", text) else None  # 5,000 digits: not an index
            if as_text is not None and as_index is not None and as_index != as_text and 0 <= as_index < len(choices):
                raise ItemDataError("gold", f"the text {text!r} is choice {as_text}'s text and also index {as_index}: "
                                f"ambiguous; write the gold template as an index (`| int`) or map labels to indices")
            if as_text is not None:
                return as_text
            if as_index is None:
                kind = "a number but not an integer index" if _is_number(text) else "neither an index nor one of the choices"
                raise ItemDataError("gold", f"{text!r} is {kind} ({', '.join(map(repr, choices))})")
            value = as_index
        if not 0 <= value < len(choices):
            raise ItemDataError("gold", f"index {value} is out of range for {len(choices)} choices")
        return value

    def _shot_gold(self, doc: dict[str, Any], t: dict[str, Any], choices: list[str]) -> int:
        """`_gold` of a few-shot example, whose answer is shown: it must have one."""
        gold = self._gold(doc, t, choices)
        if gold is None:
            raise ItemDataError("gold", "a few-shot example needs its answer: the task sets neither `target` nor `gold`")
        return gold

    def _references(self, doc: dict[str, Any], target: str) -> tuple[str, ...]:
        field_name = self.config.references_field
        if field_name is None:
            return (target,)
        value = doc.get(field_name)
        if isinstance(value, list):
            return tuple(str(v) for v in value) or (target,)
        return (str(value),) if value is not None else (target,)

    def example_prompt(self, index: int = 0) -> str:
        return self.instances[index].prompt if self.instances else ""


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


LMEVAL_PREFIX = "lmeval:"  # lm-evaluation-harness tasks, run through jlce.lmeval_bridge


def load_tasks(spec: str, include_paths: tuple[Path, ...] = ()) -> list[Task]:
    """Validated tasks for 'a,b', a group or 'all'; `lmeval:<task-or-group>` items are
    lm-evaluation-harness tasks (loaded, with lm-eval, only when named)."""
    items = [part.strip() for part in spec.split(",")] if isinstance(spec, str) else list(spec)
    bridged = [item[len(LMEVAL_PREFIX):] for item in items if item.startswith(LMEVAL_PREFIX)]
    native = [item for item in items if item and not item.startswith(LMEVAL_PREFIX)]
    tasks: list = []
    if native or not bridged:
        index = task_index(include_paths)
        tasks = [Task.from_entry(index.tasks[name]) for name in index.resolve(native)]
    if bridged:
        from jlce.lmeval_bridge import load_lmeval_tasks

        tasks += load_lmeval_tasks(bridged, include_paths)
    return tasks
