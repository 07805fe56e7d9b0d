"""The options of one `jlce run`, defined once and validated (pydantic) at the boundary.

`RunOptions` is the single definition: each field's type and constraints are the validation for
the command line and for `jlce.evaluate(...)` alike; its `Cli` metadata (`flag(...)`) generates
the `jlce run` option (jlce/cli/run_options.py); `ToBackend` marks the fields that become the
backend's `BackendConfig` (`RunOptions.backend_config()`). How to add an option: docs/api.md.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from jlce.errors import UserError


@dataclass(frozen=True)
class Cli:
    """How a run option appears on `jlce run` (the click option is generated from it).

    Click only collects text (and switches): the field's type and constraints validate it, so the
    command line and the Python API refuse a bad value with the same message."""

    flags: tuple[str, ...]  # "--name" first (or "--x/--no-x" for on/off/unset), then short forms
    help: str = ""
    show_default: bool = False  # show the field's default in --help
    metavar: str | None = None  # default: from the type (INTEGER, FLOAT, [a|b], TEXT)
    switch: bool = False  # present -> True (a "--x/--no-x" pair: True/False, absent: the default)
    multiple: bool = False  # repeatable: the field receives the tuple of values
    required: bool = False
    parse: Callable[[Any], Any] | None = None  # click's value -> the field's input (only when given)


def flag(*flags: str, help: str = "", show_default: bool = False, metavar: str | None = None, switch: bool = False,
         multiple: bool = False, required: bool = False, parse: Callable[[Any], Any] | None = None) -> Cli:
    return Cli(flags, help, show_default, metavar, switch, multiple, required, parse)


@dataclass(frozen=True)
class ToBackend:
    """Marks a run option the backend receives, as the `BackendConfig` field `name` (default: the
    option's own name)."""

    name: str | None = None


def key_value_text(items: tuple[str, ...] | list[str]) -> dict[str, str]:
    """`("a=1", "b=x")` -> `{"a": "1", "b": "x"}`: values stay text (their receiver parses them).
    A `Cli.parse` function raises ValueError; the command line prefixes the flag."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"expects KEY=VALUE, got '{item}'")
        out[key.strip()] = value.strip()
    return out


def _profile_interval(value: Any) -> dict[str, Any]:
    return {"interval": value}


class RunOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: Annotated[str, Field(min_length=1), ToBackend(), flag(
        "--model", "-m", required=True, help="Alias, hub id or local path ('jlce-tiny': the built-in demo model).")]
    tasks: Annotated[str, Field(min_length=1), flag("--tasks", "-t", required=True, help="Comma-separated tasks or groups, or 'all'.")]
    backend: Annotated[str, flag("--backend", "-b", show_default=True, help="Backend plugin (see `jlce ls backends`).")] = "transformers"
    limit: Annotated[int | None, Field(ge=1), flag("--limit", help="Evaluate only the first N items of each task.")] = None
    num_fewshot: Annotated[int | None, Field(ge=0, le=64), flag("--num-fewshot", help="Override the tasks' few-shot count.")] = None
    batch_size: Annotated[int | Literal["auto"], ToBackend(), flag(
        "--batch-size", show_default=True, metavar="N|auto", help="Batch size, or 'auto' (backs off on out-of-memory).")] = 16
    seed: Annotated[int, ToBackend(), flag("--seed", show_default=True)] = 1234
    output_dir: Annotated[Path | None, flag(
        "--output-dir", "-o", metavar="DIRECTORY", help="Default: results/<model>/<UTC time>-<random>/.")] = None
    overwrite: Annotated[bool, flag(
        "--overwrite", switch=True, help="Replace an --output-dir that holds results (the whole folder, atomically).")] = False
    include_paths: Annotated[tuple[Path, ...], flag(
        "--include-path", multiple=True, metavar="DIRECTORY", help="Extra directory of task YAML files (repeatable).")] = ()
    data: Annotated[Literal["auto", "fixture"], flag(
        "--data", show_default=True,
        help="'auto': the data directory, else download; 'fixture': the small sample data shipped with each task.")] = "auto"
    skip_missing_data: Annotated[bool, flag(
        "--skip-missing-data", switch=True, help="Run the tasks whose data is present; record the others in results.json.")] = False
    revision: Annotated[str | None, ToBackend(), flag("--revision", help="Model revision (hub branch, tag or commit).")] = None
    dtype: Annotated[str, ToBackend(), flag("--dtype", show_default=True, help="auto | float32 | float16 | bfloat16")] = "auto"
    device: Annotated[str, ToBackend(), flag("--device", show_default=True, help="auto | cpu | cuda | cuda:N")] = "auto"
    max_length: Annotated[int | None, Field(ge=8), ToBackend(), flag("--max-length", help="Maximum context length in tokens.")] = None
    truncation: Annotated[Literal["error", "warn", "allow"], flag(  # prompts over the context (jlce.truncation)
        "--truncation", show_default=True,
        help="Prompts longer than the context lose their first tokens: 'warn' says how many per task, "
             "'error' stops the run instead, 'allow' only records it (samples and results.json).")] = "warn"
    adapter: Annotated[str | None, ToBackend(), flag("--adapter", help="LoRA adapter path or hub id.")] = None
    merge_adapter: Annotated[bool, ToBackend(), flag(
        "--merge-adapter", switch=True, help="Merge the adapter into the weights before evaluating.")] = False
    chat_template: Annotated[bool | None, ToBackend(), flag(
        "--chat-template/--no-chat-template", switch=True,
        help="Apply the tokenizer's chat template (default: the backend decides).")] = None
    reasoning: Annotated[Literal["auto", "on", "off"], flag(  # reasoning-model generation (jlce.reasoning)
        "--reasoning", show_default=True,
        help="Reasoning-model generation (<think>...</think>): stops apply to the answer only, larger budget. "
             "auto: on for names like R1, QwQ, *-Thinking.")] = "auto"
    reasoning_max_new_tokens: Annotated[int | None, Field(ge=1, le=131072), flag(
        "--reasoning-max-new-tokens",
        help="Token budget with reasoning on (default: each task's reasoning_max_new_tokens, else 8192).")] = None
    # repeated sampling and decoding (jlce.sampling); None: the preset's or the task's own value
    repeats: Annotated[int | None, Field(ge=1, le=1024), flag(
        "--repeats", "-k",
        help="Samples per item (k) for generation and generative multiple choice (default: preset, else the task's).")] = None
    temperature: Annotated[float | None, Field(ge=0.0, le=10.0), flag(
        "--temperature", help="Sampling temperature for every generation task (0: greedy).")] = None
    top_p: Annotated[float | None, Field(gt=0.0, le=1.0), flag(
        "--top-p", help="Nucleus sampling top-p for every generation task.")] = None
    max_new_tokens: Annotated[int | None, Field(ge=1, le=131072), flag(
        "--max-new-tokens", help="Generation budget for every generation task.")] = None
    mc_mode: Annotated[Literal["loglikelihood", "generate"] | None, flag(
        "--mc-mode",
        help="Multiple choice by choice log-likelihoods, or asked generatively (default: preset, else the task's).")] = None
    preset: Annotated[str, flag(  # a model-family preset (jlce.presets): auto | none | NAME
        "--preset", show_default=True,
        help="Model-family decoding preset: auto (by model name), none, or a name (see `jlce ls presets`).")] = "auto"
    trust_remote_code: Annotated[bool, ToBackend(), flag("--trust-remote-code", switch=True)] = False
    use_cache: Annotated[bool, flag(
        "--no-cache", switch=True, parse=operator.not_, help="Neither read nor write the request cache.")] = True
    cache_path: Annotated[Path | None, flag(
        "--cache-path", metavar="FILE", help="Request cache file (default: $JLCE_CACHE_DIR/requests.sqlite).")] = None
    cache_policy: Annotated[Literal["reuse", "strict"], flag(  # strict: recompute answers from another engine version
        "--cache-policy", show_default=True,
        help="'strict': recompute cached answers that another engine version (torch, transformers, vLLM, server) computed.")] = "reuse"
    profile: Annotated[tuple[str, ...] | None, flag(  # None: the default profilers
        "--profile", help="Profilers: 'all', 'none' or names (default: the default set; see `jlce ls profilers`).")] = None
    profile_options: Annotated[dict[str, Any], flag(
        "--profile-interval", parse=_profile_interval, metavar="FLOAT",
        help="Memory sampling interval in seconds (at least 0.01).")] = Field(default_factory=dict)
    backend_options: Annotated[dict[str, Any], ToBackend("options"), flag(
        "--backend-arg", multiple=True, metavar="KEY=VALUE", parse=key_value_text,
        help="Backend option KEY=VALUE (repeatable; a backend's keys: `jlce show backend NAME`).")] = Field(default_factory=dict)
    # data-parallel replicas on Ray (jlce.replicas); 1 without --ray-address: no Ray at all
    replicas: Annotated[int, Field(ge=1, le=4096), flag(
        "--replicas", show_default=True,
        help="Data-parallel replicas of the model on Ray, each with --replica-resources (pip install 'jlce[ray]').")] = 1
    ray_address: Annotated[str | None, flag(
        "--ray-address", help="An existing Ray cluster (ray start --head ...); default: a local Ray instance.")] = None
    replica_resources: Annotated[str | None, flag(  # NAME=AMOUNT,... per replica (default CPU=1)
        "--replica-resources", metavar="NAME=AMOUNT,...",
        help="Ray resources per replica (default CPU=1; e.g. GPU=1,CPU=4).")] = None
    replica_timeout: Annotated[float, Field(ge=1), flag(
        "--replica-timeout", show_default=True,
        help="Seconds a work unit may run before its replica counts as stuck (killed, restarted, the unit re-queued).")] = 1800.0
    # the judge of judged tasks (jlce.judge.stage): any backend, its own options
    judge_model: Annotated[str | None, flag(
        "--judge-model", help="Model that rates the answers of judged tasks (e.g. japanese_mt_bench); "
                              "without it their answers are recorded, not judged.")] = None
    judge_backend: Annotated[str | None, flag(
        "--judge-backend", help="Backend of the judge (default: the run's --backend).")] = None
    judge_backend_options: Annotated[dict[str, Any], flag(
        "--judge-backend-arg", multiple=True, metavar="KEY=VALUE", parse=key_value_text,
        help="Judge backend option KEY=VALUE (repeatable; e.g. base_url=http://HOST:PORT/v1).")] = Field(default_factory=dict)
    judge_mode: Annotated[Literal["single", "pairwise"], flag(
        "--judge-mode", show_default=True,
        help="single: rate each answer 1-10; pairwise: compare with --judge-baseline's answers (both orders).")] = "single"
    judge_baseline: Annotated[Path | None, flag(
        "--judge-baseline", metavar="PATH",
        help="Pairwise baseline: a JLCE run folder of the same judged task, or a FastChat model_answer file.")] = None
    show_progress: Annotated[bool, flag("--quiet", "-q", switch=True, parse=operator.not_, help="No progress bars.")] = True
    results_root: Path = Path("results")  # where runs go without --output-dir (Python API only)

    @field_validator("model")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("must not contain NUL bytes")
        return value

    @field_validator("include_paths")
    @classmethod
    def _directories(cls, value: tuple[Path, ...]) -> tuple[Path, ...]:
        for path in value:
            if not path.is_dir():
                raise ValueError(f"'{path}' does not exist or is not a directory")
        return value

    @field_validator("reasoning", mode="before")
    @classmethod
    def _reasoning(cls, value: Any) -> Any:
        from jlce.reasoning import parse_mode

        try:
            return parse_mode(value)
        except UserError as error:
            raise ValueError(str(error).removeprefix("--reasoning ")) from None

    @field_validator("profile", mode="before")
    @classmethod
    def _profile(cls, value: Any) -> Any:
        """'timing,memory' (the command line's form) -> ('timing', 'memory')."""
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("profile_options")
    @classmethod
    def _interval(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "interval" not in value:
            return value
        try:
            interval = float(value["interval"])
        except (TypeError, ValueError):
            raise ValueError(f"interval must be a number of seconds, not '{value['interval']}'") from None
        if not interval >= 0.01:
            raise ValueError(f"interval must be at least 0.01 seconds, not {value['interval']}")
        return {**value, "interval": interval}

    @model_validator(mode="before")
    @classmethod
    def _legacy_reasoning_args(cls, data: Any) -> Any:
        """`--backend-arg reasoning=...` / `reasoning_max_new_tokens=...` (the vllm and openai
        backends' former options) become the run options, for every backend."""
        if not isinstance(data, dict) or not isinstance(data.get("backend_options"), dict):
            return data
        backend_options = dict(data["backend_options"])
        data = dict(data)
        for key, default in (("reasoning", "auto"), ("reasoning_max_new_tokens", None)):
            if key not in backend_options:
                continue
            legacy = backend_options.pop(key)
            given = data.get(key, default)
            if key == "reasoning":
                from jlce.reasoning import parse_mode

                try:
                    legacy, given = parse_mode(legacy, "--backend-arg reasoning"), parse_mode(given)
                except UserError as error:
                    raise ValueError(str(error)) from None
            if given != default and str(given) != str(legacy):  # text from the command line, numbers from Python
                flag_name = "--" + key.replace("_", "-")
                raise ValueError(f"--backend-arg {key}={legacy} conflicts with {flag_name} {given}; give {flag_name} only")
            data[key] = legacy
        data["backend_options"] = backend_options
        return data

    @field_validator("batch_size", mode="before")
    @classmethod
    def _batch(cls, value: Any) -> Any:
        if isinstance(value, str) and value != "auto":
            if not value.isdigit() or int(value) < 1:
                raise ValueError("must be a positive integer or 'auto'")
            return int(value)
        if isinstance(value, int) and value < 1:
            raise ValueError("must be a positive integer or 'auto'")
        return value

    def backend_config(self, spec: Any = None, preset: Any = None) -> Any:
        """The `BackendConfig` of this run: the fields marked `ToBackend`, the chat template the
        preset implies when the option leaves it unset, and `--backend-arg` parsed by the options
        model `spec` (a `BackendSpec`) declares (a `UserError` names a bad key or value)."""
        from jlce.backend import BackendConfig
        from jlce.backendargs import parse_for_spec

        values = {target: getattr(self, name) for name, target in backend_fields().items()}
        if self.chat_template is None and preset is not None:
            values["chat_template"] = preset.chat_template
        values["options"] = parse_for_spec(spec, self.backend_options) if spec is not None else dict(self.backend_options)
        return BackendConfig(**values)

    def public(self, backend_options: Any = None) -> dict[str, Any]:
        """The options as recorded in results.json, with anything that looks like a credential
        (e.g. `--backend-arg api_key=...`) redacted. `backend_options`: the backend's parsed
        options model, recorded (the keys given, typed) instead of the text pairs."""
        from jlce.secrets import redact_mapping

        record = self.model_dump(mode="json", exclude={"show_progress"})
        if backend_options is not None and hasattr(backend_options, "model_dump"):
            record["backend_options"] = backend_options.model_dump(mode="json", include=set(self.backend_options))
        return redact_mapping(record)


def backend_fields() -> dict[str, str]:
    """{run option: BackendConfig field} for the options marked `ToBackend`."""
    out = {}
    for name, info in RunOptions.model_fields.items():
        marker = next((m for m in info.metadata if isinstance(m, ToBackend)), None)
        if marker is not None:
            out[name] = marker.name or name
    return out


def cli_of(name: str) -> Cli | None:
    """The command-line form of the run option `name` (None: Python API only)."""
    info = RunOptions.model_fields.get(name)
    return next((m for m in info.metadata if isinstance(m, Cli)), None) if info is not None else None


def options_error(error: ValidationError) -> UserError:
    """One message for a bad option, the same from `jlce run` and `jlce.evaluate`:
    `--limit (limit): Input should be greater than or equal to 1, got 0`."""
    first = error.errors()[0]
    message = str(first["msg"]).removeprefix("Value error, ")
    if not first["loc"]:
        return UserError(message)
    name = str(first["loc"][0])
    cli = cli_of(name)
    where = f"{cli.flags[0].split('/')[0]} ({name})" if cli is not None else name
    if name not in RunOptions.model_fields:
        return UserError(f"unknown option '{name}'{_nearest(name)}")
    got = first.get("input")
    if got is None or isinstance(got, dict) or first["type"] == "missing" or _short(got) in message:
        return UserError(f"{where}: {message}")
    return UserError(f"{where}: {message}, got {_short(got)}")


def make_run_options(**values: Any) -> RunOptions:
    """`RunOptions(**values)`, a bad value raised as the `UserError` of `options_error`."""
    try:
        return RunOptions(**values)
    except ValidationError as error:
        raise options_error(error) from None


def _nearest(name: str) -> str:
    from jlce.errors import did_you_mean

    return did_you_mean(name, RunOptions.model_fields)


def _short(value: Any) -> str:
    text = ",".join(map(str, value)) if isinstance(value, tuple | list) else str(value)
    return text if len(text) <= 100 else text[:100] + "..."


def _check_backend_fields() -> None:
    """Every `ToBackend` option names a `BackendConfig` field and the reverse (checked by a test)."""
    from jlce.backend import BackendConfig

    marked = set(backend_fields().values())
    declared = {f.name for f in fields(BackendConfig)}
    if marked != declared:
        raise AssertionError(f"RunOptions ToBackend fields {sorted(marked)} != BackendConfig fields {sorted(declared)}")
