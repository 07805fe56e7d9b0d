"""The task and group definition schema (pydantic, unknown keys refused)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from jlce.paths import path_problem

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
OutputType = Literal["multiple_choice", "loglikelihood", "loglikelihood_rolling", "generate_until", "generate_chat"]
MAX_FEWSHOT = 64


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileSource(Strict):
    """A file by URL (downloaded into the data directory) or by a path shipped beside the task
    file (a plugin's own small dataset), pinned by its sha256."""

    url: str | None = None
    path: str | None = None
    sha256: str
    filename: str | None = None  # name to store it under (default: last URL segment)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://", value):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        problem = path_problem(value) if value is not None else None
        if problem:
            raise ValueError(f"must be a relative path inside the task's directory: {problem}")
        return value

    @field_validator("filename")
    @classmethod
    def _filename(cls, value: str | None) -> str | None:
        if value is not None:
            _check_file_name(value, "filename")
        return value

    @model_validator(mode="after")
    def _one_location(self) -> FileSource:
        if (self.url is None) == (self.path is None):
            raise ValueError("give exactly one of 'url' or 'path'")
        if self.url is not None and self.filename is None:
            _check_file_name(self.name, "the file name taken from the url (set 'filename')")
        return self

    @field_validator("sha256")
    @classmethod
    def _sha(cls, value: str) -> str:
        if not re.fullmatch(r"[0-9a-f]{64}", value):
            raise ValueError("must be 64 lowercase hex digits")
        return value

    @property
    def name(self) -> str:
        return self.filename or (self.url or self.path or "").rstrip("/").rsplit("/", 1)[-1]


def _check_file_name(name: str, what: str) -> None:
    """A name stored in the data directory: one plain file name, nothing that could leave it."""
    problem = path_problem(name)
    if problem is None and ("/" in name or name in (".", "..")):
        problem = "it must be a plain file name, without '/'"
    if problem is None and len(name.encode("utf-8")) > 255:
        problem = "it is longer than 255 bytes"
    if problem:
        raise ValueError(f"{what} {name!r} is refused: {problem}")


class HubSource(Strict):
    """A Hugging Face dataset that loads without a loading script, pinned to a revision."""

    path: str
    name: str | None = None
    revision: str

    @field_validator("path")
    @classmethod
    def _repo_id(cls, value: str) -> str:
        # A hub id, never a local folder: the datasets library would read one (task files are data).
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*/[A-Za-z0-9][A-Za-z0-9_.\-]*", value) or ".." in value:
            raise ValueError("must be a Hugging Face dataset id 'owner/name' (a local folder is not allowed)")
        return value
    splits: dict[str, str] = Field(default_factory=dict)  # JLCE split -> hub split


class NamedCall(Strict):
    """A reference to a registered function with keyword arguments."""

    name: str
    args: dict[str, Any] = Field(default_factory=dict)


class MetricRef(NamedCall):
    pass


class DatasetConfig(Strict):
    format: str = "jsonl"
    reader_args: dict[str, Any] = Field(default_factory=dict)
    files: dict[str, list[FileSource]] | None = None
    hub: HubSource | None = None
    fixture: dict[str, list[str]] = Field(default_factory=dict)  # split -> paths relative to the YAML
    process: list[NamedCall] = Field(default_factory=list)
    # split -> processors applied after `process`, to that split only (e.g. one file holding
    # both the train and the test rows, told apart by a column)
    split_process: dict[str, list[NamedCall]] = Field(default_factory=dict)

    @field_validator("fixture")
    @classmethod
    def _fixture_paths(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for paths in value.values():
            for path in paths:
                problem = path_problem(path)
                if problem:
                    raise ValueError(f"fixture {path!r} must be a relative path inside the task's directory: {problem}")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> DatasetConfig:
        if (self.files is None) == (self.hub is None):
            raise ValueError("give exactly one of 'files' (URLs with sha256) or 'hub' (a dataset id and revision)")
        return self


class FewshotConfig(Strict):
    split: str
    n: int = Field(default=0, ge=0, le=MAX_FEWSHOT)
    seed: int = 1234
    sampler: Literal["fixed", "per_item", "first", "stratified"] = "fixed"  # jlce.fewshot


class GenerationConfig(Strict):
    until: list[str] = Field(default_factory=lambda: ["\n\n"])
    max_new_tokens: int = Field(default=128, ge=1, le=131072)
    temperature: float = Field(default=0.0, ge=0.0, le=10.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    repeats: int = Field(default=1, ge=1, le=1024)  # k samples per item (jlce.sampling)
    seed: int | None = Field(default=None, ge=0)  # pins the samples' seeds (default: the run's --seed)
    reasoning_max_new_tokens: int | None = Field(default=None, ge=1, le=131072)


class ChatConfig(Strict):
    """A multi-turn task (`output_type: generate_chat`, jlce.multiturn): the document field holding
    the list of user turns, asked one after another with the model's own earlier answers.
    `temperature_field` + `temperatures`: a per-item temperature looked up by that field's value
    (FastChat's per-category temperatures), `generation.temperature` for values not listed; a
    temperature given on the command line or by a preset applies to every item instead."""

    turns_field: str = "turns"
    temperature_field: str | None = None
    temperatures: dict[str, float] = Field(default_factory=dict)

    @field_validator("temperatures")
    @classmethod
    def _temperatures(cls, value: dict[str, float]) -> dict[str, float]:
        for key, temperature in value.items():
            if not 0.0 <= temperature <= 10.0:
                raise ValueError(f"temperature of '{key}' must be between 0 and 10, not {temperature}")
        return value

    @model_validator(mode="after")
    def _field_named(self) -> ChatConfig:
        if self.temperatures and self.temperature_field is None:
            raise ValueError("'temperatures' needs 'temperature_field' (the document field they are looked up by)")
        return self


class MCGenerateConfig(Strict):
    """How a multiple-choice task is asked generatively (`mc_mode: generate`): the prompt lists
    the choices with labels (Jinja over the document plus `prompt`, `options`, `labels`,
    `choices`), the answer label or choice text is read from the response (jlce.mcgen)."""

    labels: list[str] | None = None  # default: 1, 2, 3, ...
    template: str | None = None  # default: jlce.mcgen.DEFAULT_TEMPLATE
    until: list[str] = Field(default_factory=lambda: ["\n\n"])
    max_new_tokens: int = Field(default=32, ge=1, le=131072)


JudgePromptKey = Literal["single", "single_reference", "single_turn2", "single_reference_turn2",
                         "pairwise", "pairwise_reference", "pairwise_turn2", "pairwise_reference_turn2"]
DEFAULT_RATING_PATTERNS = (r"\[\[\s*(\d+(?:\.\d+)?)\s*\]\]", r"\[\[?\s*(\d+(?:\.\d+)?)\s*\]\]?",
                           r"(?i)\[\[\s*(?:評価|rating)\s*\]\]\s*[:：]?\s*(\d+(?:\.\d+)?)")  # = jlce.judge.parse


class JudgePrompt(Strict):
    """One judge prompt: the prompt named `name` in a FastChat judge-prompt file (`sources` key)."""

    source: str
    name: str


class JudgeConfig(Strict):
    """How a judged task's answers are rated by a judge model (jlce.judge.stage). Prompts come
    from FastChat judge-prompt JSONL files, pinned like data (`url` + sha256, or a `path` inside
    the task's folder); their `{placeholders}` are filled through the sandboxed Jinja."""

    sources: dict[str, FileSource] = Field(min_length=1)
    prompts: dict[JudgePromptKey, JudgePrompt]
    references: FileSource | None = None  # FastChat answer file of reference answers, by question id
    fixture_references: str | None = None  # the same for the fixture questions (`--data fixture`), beside the task
    reference_categories: list[str] = Field(default_factory=list)
    scale: tuple[float, float] = (1.0, 10.0)
    patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_RATING_PATTERNS))  # regexes, group 1: the rating
    id_field: str = "question_id"
    turns_field: str = "turns"
    category_field: str = "category"
    temperature: float = Field(default=0.0, ge=0.0, le=10.0)
    retry_temperature: float = Field(default=0.7, ge=0.0, le=10.0)  # the one retry of an unparseable judgment
    max_new_tokens: int = Field(default=2048, ge=1, le=131072)

    @field_validator("fixture_references")
    @classmethod
    def _fixture_path(cls, value: str | None) -> str | None:
        problem = path_problem(value) if value is not None else None
        if problem:
            raise ValueError(f"must be a relative path inside the task's directory: {problem}")
        return value

    @field_validator("patterns")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                groups = re.compile(pattern).groups
            except re.error as error:
                raise ValueError(f"pattern {pattern!r} is not a regular expression: {error}") from None
            if groups != 1:
                raise ValueError(f"pattern {pattern!r} must have exactly one group (the rating), it has {groups}")
        if not value:
            raise ValueError("give at least one pattern")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> JudgeConfig:
        low, high = self.scale
        if not low < high:
            raise ValueError(f"scale [{low}, {high}] must go from low to high")
        for key, prompt in self.prompts.items():
            if prompt.source not in self.sources:
                raise ValueError(f"prompts.{key}.source '{prompt.source}' is not among sources {sorted(self.sources)}")
        if "single" not in self.prompts:
            raise ValueError("prompts needs 'single' (the single-answer rating prompt)")
        if self.reference_categories and self.references is None and self.fixture_references is None:
            raise ValueError("reference_categories needs 'references' (a FastChat answer file of reference answers)")
        return self


class TaskConfig(Strict):
    task: str = Field(pattern=NAME_PATTERN, max_length=100)
    version: str
    category: str = "other"
    description: str = ""
    license: str
    citation: str = ""
    homepage: str = ""
    tags: list[str] = Field(default_factory=list)

    dataset: DatasetConfig
    eval_split: str
    fewshot: FewshotConfig | None = None

    output_type: OutputType
    instruction: str = ""
    prompt: str
    target: str | None = None
    references_field: str | None = None
    choices: list[str] | None = None
    choices_field: str | None = None
    gold: str | None = None
    target_delimiter: str = ""
    fewshot_delimiter: str = "\n\n"
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    mc_mode: Literal["loglikelihood", "generate"] = "loglikelihood"  # multiple_choice only
    mc_generate: MCGenerateConfig = Field(default_factory=MCGenerateConfig)
    chat: ChatConfig | None = None  # generate_chat only (default: turns in the field `turns`)

    filters: list[NamedCall] = Field(default_factory=list)
    metrics: list[MetricRef] = Field(default_factory=list)  # at least one, unless the task is judged
    primary_metric: str | None = None
    judge: JudgeConfig | None = None  # a judged task: its answers are rated by a judge model

    @model_validator(mode="after")
    def _consistent(self) -> TaskConfig:
        if self.output_type == "multiple_choice":
            if (self.choices is None) == (self.choices_field is None):
                raise ValueError("multiple_choice needs exactly one of 'choices' (templates) or 'choices_field'")
            if self.gold is None:
                raise ValueError("multiple_choice needs 'gold' (a template giving the correct choice's index)")
        if self.output_type in ("generate_until", "loglikelihood") and self.target is None and self.references_field is None:
            raise ValueError(f"{self.output_type} needs 'target' or 'references_field'")
        if self.fewshot and self.fewshot.n and self.target is None and self.output_type != "multiple_choice":
            raise ValueError("few-shot examples need 'target' to show the answer")
        if self.output_type != "multiple_choice" and "mc_mode" in self.model_fields_set:
            raise ValueError("'mc_mode' applies to multiple_choice tasks only")
        labels = self.mc_generate.labels
        if labels is not None and (len(set(labels)) != len(labels) or not all(label.strip() for label in labels)):
            raise ValueError("mc_generate.labels must be distinct and non-empty")
        if labels is not None and self.choices is not None and len(labels) < len(self.choices):
            raise ValueError(f"mc_generate.labels has {len(labels)} labels for {len(self.choices)} choices")
        names = [metric.name for metric in self.metrics]
        if self.output_type == "generate_chat":
            if self.fewshot is not None or self.mc_generate.labels or self.choices or self.choices_field:
                raise ValueError("generate_chat tasks take no few-shot examples or choices")
        elif self.chat is not None:
            raise ValueError("'chat' applies to generate_chat tasks only")
        if not names and self.judge is None and self.output_type != "generate_chat":  # a chat task may only record answers
            raise ValueError("metrics: give at least one metric (or a 'judge' block)")
        if self.judge is not None:
            names.append("judge_score")
        if self.primary_metric is not None and self.primary_metric not in names:
            raise ValueError(f"primary_metric '{self.primary_metric}' is not among metrics {names}")
        return self

    @property
    def headline_metric(self) -> str | None:
        if self.primary_metric or self.judge is not None:
            return self.primary_metric or "judge_score"
        return self.metrics[0].name if self.metrics else None  # a chat task recording answers only


class GroupConfig(Strict):
    group: str = Field(pattern=NAME_PATTERN, max_length=100)
    tasks: list[str] = Field(min_length=1)
    description: str = ""
    version: str = "1"
