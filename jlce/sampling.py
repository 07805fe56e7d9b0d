"""Repeated sampling: the decoding settings a task runs with, and one seed per sample.

A task's generation settings come from, in order of precedence: the command line
(`--repeats`, `--temperature`, `--top-p`, `--max-new-tokens`, `--mc-mode`), the model's preset
(`jlce.presets`), the task's YAML (`generation:`, `mc_mode`), then the defaults (greedy, k = 1).

Sample j of item i gets seed `item_seed(seed, task, doc_id) + j`, where `seed` is the task's
`generation.seed` when the YAML sets one, else the run's `--seed`. The seed depends on nothing
else (not the batch, not the order of requests, not the other samples), so a rerun, a resumed run
and another batch size send the same requests; and because the k seeds of an item are consecutive,
an engine that derives the seeds of `n` parallel samples as `seed + index` (vLLM) gives the same
samples for one request with `n = k` as for k requests. Each sample is its own request, so the
request cache stores each one separately. Greedy decoding sends no seed (the answer does not
depend on it, and the cache key stays that of the greedy request).

Backends send one request per sample with its seed: transformers seeds a torch generator per row
(and prefills an item's prompt once for its samples in a batch), vLLM gets `SamplingParams(seed=)`
per request (tests/test_vllm_backend.py checks these equal vLLM's own `n = k` samples), and an
OpenAI-compatible server gets `seed` per request. JLCE does not send `n > 1` to a server: its
`usage` then counts the tokens of all choices together, so the per-sample token counts (thinking
cost, budget hits) would be lost; on vLLM servers the samples are the same either way.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any, Literal

MCMode = Literal["loglikelihood", "generate"]
MAX_REPEATS = 1024
DEFAULT_SEED = 1234  # the run's --seed default
# Seeds stay below 2**31 (the range every engine accepts) even after adding j < MAX_REPEATS.
_SEED_RANGE = 2**31 - MAX_REPEATS


def item_seed(seed: int, task: str, doc_id: int | str) -> int:
    """The seed of sample 0 of an item; sample j uses this + j."""
    digest = hashlib.sha256(f"{seed}\x00{task}\x00{doc_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % _SEED_RANGE


def sample_seed(seed: int, task: str, doc_id: int | str, j: int) -> int:
    return item_seed(seed, task, doc_id) + j


@dataclass(frozen=True)
class Overrides:
    """Generation settings given on the command line or by a preset; None leaves the value alone."""

    repeats: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_new_tokens: int | None = None
    mc_mode: MCMode | None = None

    def over(self, base: Overrides) -> Overrides:
        """These settings, falling back to `base` where unset."""
        return Overrides(**{k: v if v is not None else getattr(base, k) for k, v in asdict(self).items()})


@dataclass(frozen=True)
class TaskSampling:
    """What one task actually ran with (recorded per task in results.json)."""

    repeats: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 128
    seed: int = DEFAULT_SEED
    mc_mode: MCMode = "loglikelihood"
    sources: tuple[tuple[str, str], ...] = ()  # (setting, "cli" | "preset" | "task" | "default")

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0

    def seeds(self, task: str, doc_id: int | str) -> list[int | None]:
        """One seed per sample (None for greedy decoding)."""
        if self.greedy:
            return [None] * self.repeats
        base = item_seed(self.seed, task, doc_id)
        return [base + j for j in range(self.repeats)]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["sources"] = dict(self.sources)
        return data


def resolve_sampling(config: Any, run_seed: int, cli: Overrides, preset: Overrides) -> TaskSampling:
    """The settings of a task (`config`: a TaskConfig) under the command line and the preset."""
    g = config.generation
    task_values = {"repeats": g.repeats, "temperature": g.temperature, "top_p": g.top_p,
                   "max_new_tokens": g.max_new_tokens, "mc_mode": getattr(config, "mc_mode", None)}
    defaults = TaskSampling()
    values: dict[str, Any] = {}
    sources: list[tuple[str, str]] = []
    for name, task_value in task_values.items():
        for origin, value in (("cli", getattr(cli, name)), ("preset", getattr(preset, name)),
                              ("task", task_value), ("default", getattr(defaults, name))):
            if value is not None:
                values[name] = value
                sources.append((name, origin))
                break
    seed_from_task = g.seed is not None
    sources.append(("seed", "task" if seed_from_task else "cli"))
    return TaskSampling(seed=g.seed if seed_from_task else run_seed, sources=tuple(sources), **values)


def cli_overrides(options: Any) -> Overrides:
    return Overrides(repeats=options.repeats, temperature=options.temperature, top_p=options.top_p,
                     max_new_tokens=options.max_new_tokens, mc_mode=options.mc_mode)


def task_sampling(task: Any, options: Any, preset: Any) -> TaskSampling:
    """The settings one task runs with (`options`: RunOptions, `preset`: a PresetSpec or None).
    Log-likelihood tasks (and multiple choice scored by log-likelihood) have one deterministic
    answer: their repeats are 1 and no decoding setting applies."""
    from dataclasses import replace

    if getattr(task.config, "generation", None) is None:  # lmeval: tasks decode as their own YAML says
        return TaskSampling(seed=options.seed, sources=(("decoding", "task"),))
    sampling = resolve_sampling(task.config, options.seed, cli_overrides(options),
                                preset.settings if preset is not None else Overrides())
    generative = task.config.output_type in ("generate_until", "generate_chat") or (
        task.config.output_type == "multiple_choice" and sampling.mc_mode == "generate")
    if not generative:
        sampling = replace(sampling, repeats=1, temperature=0.0, top_p=1.0)
    return sampling


def announce(preset: Any, tasks: list, show: bool = True) -> list[str]:
    """Print (to stderr) the preset and what it changes, before the model loads; returns the lines."""
    lines = []
    if preset is not None:
        settings = ", ".join(f"{k}={v}" for k, v in preset.record()["settings"].items())
        lines.append(f"preset '{preset.name}': {settings} (each overridable: --repeats, --temperature, --top-p, "
                     "--max-new-tokens, --mc-mode, --no-chat-template; --preset none for the tasks' own)")
    greedy = [t.name for t in tasks if t.sampling.repeats > 1 and t.sampling.greedy]
    if greedy:
        lines.append(f"k > 1 with temperature 0 gives k identical samples (computed once): {', '.join(greedy)}")
    generated = [t.name for t in tasks if getattr(t, "generative_mc", False)]
    if generated:
        lines.append(f"multiple choice asked generatively (answer read after the reasoning): {', '.join(generated)}"
                     " (--mc-mode loglikelihood scores the choices instead)")
    for line in lines if show else []:
        import sys

        print(f"jlce: {line}", file=sys.stderr)
    return lines


def reasoning_budget(task: Any) -> int | None:
    """A task's token budget with reasoning on: `--max-new-tokens` or the preset's when given
    (then it is the budget, for thinking included), else the task's `reasoning_max_new_tokens`."""
    from jlce.reasoning import task_reasoning_budget

    sampling = getattr(task, "sampling", None)
    if sampling is not None and dict(sampling.sources).get("max_new_tokens") in ("cli", "preset"):
        return sampling.max_new_tokens
    return task_reasoning_budget(task)
