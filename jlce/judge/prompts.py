"""A judged task's judge prompts and reference answers, read from pinned files.

The prompts are FastChat judge-prompt JSONL rows (`name`, `system_prompt`, `prompt_template`,
`output_format`), chosen by name from files the task's `judge.sources` pins by sha256: a URL
(stored in the data directory like a task's data, `jlce data add` / download) or a `path` inside
the task's own folder. FastChat's `{placeholder}` fields become Jinja variables rendered in
JLCE's sandbox (jlce.prompts): a template is data, never code, and an unknown placeholder is a
located error. Reference answers are a FastChat answer file, joined by question id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jlce.errors import ConfigError, DataMissing
from jlce.prompts import Template
from jlce.taskschema import FileSource, JudgeConfig

PLACEHOLDER = re.compile(r"\{(\w+)\}")
JINJA_MARKS = ("{{", "}}", "{%", "%}", "{#", "#}")


@dataclass(frozen=True)
class JudgePromptText:
    key: str  # single, single_reference, ..., pairwise_reference_turn2
    name: str  # FastChat's prompt name
    system_prompt: str
    template: Template
    output_format: str
    source_sha256: str
    placeholders: tuple[str, ...]

    def render(self, values: dict[str, str]) -> str:
        return self.template.render(values)

    def record(self) -> dict[str, Any]:
        return {"name": self.name, "output_format": self.output_format, "source_sha256": self.source_sha256}


def to_jinja(fastchat_template: str, *, file: Path, key: str) -> tuple[str, tuple[str, ...]]:
    """FastChat's `{name}` fields as `{{ name }}`; literal text that Jinja would read as syntax is refused."""
    parts: list[str] = []
    names: list[str] = []
    last = 0
    for match in PLACEHOLDER.finditer(fastchat_template):
        parts.append(_literal(fastchat_template[last:match.start()], file, key))
        parts.append("{{ " + match.group(1) + " }}")
        names.append(match.group(1))
        last = match.end()
    parts.append(_literal(fastchat_template[last:], file, key))
    return "".join(parts), tuple(names)


def _literal(text: str, file: Path, key: str) -> str:
    if any(mark in text for mark in JINJA_MARKS):
        raise ConfigError("judge prompt text holds Jinja syntax ({{, {%, {#); FastChat prompts use {name} fields only",
                          file=file, key=key)
    return text


def source_path(task_file: Path, source: FileSource, task: str, key: str) -> Path:
    """The pinned file, verified: beside the task (`path`) or in the data directory (`url`), downloaded
    when absent and the network is allowed."""
    from jlce.data import store
    from jlce.data.verify import verify

    if source.path is not None:
        path = store.local_path(task_file, source)
    else:
        found = store.find(source)
        if found is None:
            try:
                found = store.download(source)
            except DataMissing as error:
                raise DataMissing(f"task '{task}': the judge file {source.name} ({key}) is not in the data directory: "
                                  f"{error}. Get it with `jlce data pull --tasks {task}` where the network is "
                                  f"reachable, or register a local copy with `jlce data add {task} PATH`") from None
        path = found
    verify(path, source.sha256, label=f"task '{task}' {key} ({source.name})")
    return path


def load_prompts(task_file: Path, task: str, judge: JudgeConfig) -> dict[str, JudgePromptText]:
    """The task's judge prompts by key, each checked to exist in its pinned file."""
    from jlce.judge.fastchat import _rows

    files: dict[str, tuple[dict[str, dict[str, Any]], str]] = {}
    for name, source in judge.sources.items():
        path = source_path(task_file, source, task, f"judge.sources.{name}")
        rows = {str(row.get("name")): row for _, row in _rows(path)}
        files[name] = (rows, source.sha256)
    out: dict[str, JudgePromptText] = {}
    for key, prompt in judge.prompts.items():
        rows, digest = files[prompt.source]
        row = rows.get(prompt.name)
        where = f"judge.prompts.{key}"
        if row is None or not isinstance(row.get("prompt_template"), str):
            raise ConfigError(f"judge prompt '{prompt.name}' is not in {judge.sources[prompt.source].name} "
                              f"(it has: {', '.join(sorted(rows))})", file=task_file, key=where)
        source_text, names = to_jinja(row["prompt_template"], file=task_file, key=where)
        out[key] = JudgePromptText(key=key, name=prompt.name, system_prompt=str(row.get("system_prompt") or ""),
                                   template=Template(source_text, file=task_file, key=where),
                                   output_format=str(row.get("output_format") or ""), source_sha256=digest,
                                   placeholders=names)
    return out


def load_references(task_file: Path, task: str, judge: JudgeConfig, fixture: bool = False) -> dict[str, list[str]]:
    """question id -> reference answer turns (empty without `judge.references`); `fixture`: the
    task ran on its fixture questions, whose references are `judge.fixture_references`."""
    from jlce.judge.fastchat import read_answers
    from jlce.paths import contained

    if fixture and judge.fixture_references is not None:
        path = contained(task_file.parent, judge.fixture_references, what="fixture references", file=task_file,
                         key="judge.fixture_references")
        if not path.is_file():
            raise ConfigError(f"fixture references '{judge.fixture_references}' not found in {task_file.parent}",
                              file=task_file, key="judge.fixture_references")
    elif judge.references is not None:
        path = source_path(task_file, judge.references, task, "judge.references")
    else:
        return {}
    return {answer.question_id: answer.turns for answer in read_answers(path)}
