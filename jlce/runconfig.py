"""The options of one `jlce run`, validated (pydantic) at the boundary."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from jlce.errors import UserError


class RunOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1)
    backend: str = "transformers"
    tasks: str = Field(min_length=1)
    limit: int | None = Field(default=None, ge=1)
    num_fewshot: int | None = Field(default=None, ge=0, le=64)
    batch_size: int | Literal["auto"] = 16
    seed: int = 1234
    output_dir: Path | None = None
    overwrite: bool = False  # replace an --output-dir that holds results (atomically)
    results_root: Path = Path("results")
    include_paths: tuple[Path, ...] = ()
    data: Literal["auto", "fixture"] = "auto"
    skip_missing_data: bool = False
    revision: str | None = None
    dtype: str = "auto"
    device: str = "auto"
    max_length: int | None = Field(default=None, ge=8)
    truncation: Literal["error", "warn", "allow"] = "warn"  # prompts over the context (jlce.truncation)
    adapter: str | None = None
    merge_adapter: bool = False
    chat_template: bool | None = None
    reasoning: Literal["auto", "on", "off"] = "auto"  # reasoning-model generation (jlce.reasoning)
    reasoning_max_new_tokens: int | None = Field(default=None, ge=1, le=131072)  # None: each task's own, else 8192
    trust_remote_code: bool = False
    use_cache: bool = True
    cache_path: Path | None = None
    cache_policy: Literal["reuse", "strict"] = "reuse"  # strict: recompute answers from another engine version
    profile: tuple[str, ...] | None = None  # None: the default profilers
    profile_options: dict[str, Any] = Field(default_factory=dict)
    backend_options: dict[str, Any] = Field(default_factory=dict)
    # repeated sampling and decoding (jlce.sampling); None: the preset's or the task's own value
    repeats: int | None = Field(default=None, ge=1, le=1024)
    temperature: float | None = Field(default=None, ge=0.0, le=10.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    max_new_tokens: int | None = Field(default=None, ge=1, le=131072)
    mc_mode: Literal["loglikelihood", "generate"] | None = None
    preset: str = "auto"  # a model-family preset (jlce.presets): auto | none | NAME
    # data-parallel replicas on Ray (jlce.replicas); 1 without --ray-address: no Ray at all
    replicas: int = Field(default=1, ge=1, le=4096)
    ray_address: str | None = None
    replica_resources: str | None = None  # NAME=AMOUNT,... per replica (default CPU=1)
    replica_timeout: float = Field(default=1800.0, gt=0)
    show_progress: bool = True

    @field_validator("model")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("must not contain NUL bytes")
        return value

    @field_validator("reasoning", mode="before")
    @classmethod
    def _reasoning(cls, value: Any) -> Any:
        from jlce.reasoning import parse_mode

        try:
            return parse_mode(value)
        except UserError as error:
            raise ValueError(str(error).removeprefix("--reasoning ")) from None

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
            if given not in (default, legacy):
                flag = "--" + key.replace("_", "-")
                raise ValueError(f"--backend-arg {key}={legacy} conflicts with {flag} {given}; give {flag} only")
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

    def public(self) -> dict[str, Any]:
        """The options as recorded in results.json, with anything that looks like a credential
        (e.g. `--backend-arg api_key=...`) redacted."""
        from jlce.secrets import redact_mapping

        return redact_mapping(self.model_dump(mode="json", exclude={"show_progress"}))
