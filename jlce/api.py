"""The Python API: `jlce.evaluate(...)`, what `jlce run` does, from Python."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def evaluate(model: str | None = None, tasks: str | Sequence[str] = "all", backend: Any = "transformers",
             **options: Any) -> dict[str, Any]:
    """Evaluate a model on tasks and return the results (the content of the `results.json` it writes).

    - `model`: alias, hub id or local path, as `jlce run --model` takes it; with a backend
      instance it is only the name recorded (default: the instance's fingerprint `model`).
    - `tasks`: task and group names, a list or one comma-separated string.
    - `backend`: a registered backend's name (`jlce ls backends`), or a `jlce.plugin.Backend`
      instance, used as is and left open (the caller closes it).
    - `**options`: any other `jlce run` option by its Python name (`limit=10`, `num_fewshot=0`,
      `data="fixture"`, `output_dir=...`, `use_cache=False`, `profile="none"`,
      `backend_options={...}`, ...); see `jlce.runconfig.RunOptions`.

    Bad input raises `jlce.errors.UserError` with the message `jlce run` would print.
    """
    from jlce.errors import UserError
    from jlce.evaluator import Evaluator
    from jlce.runconfig import make_run_options

    instance = None if isinstance(backend, str) else backend
    if instance is not None:
        for method in ("fingerprint", "loglikelihood", "generate_until"):
            if not callable(getattr(instance, method, None)):
                raise UserError(f"backend must be a registered backend's name or a Backend instance; "
                                f"{type(instance).__name__} has no {method}()")
        name = str(getattr(instance, "name", type(instance).__name__))
        model = model or str(instance.fingerprint().get("model") or name)
    else:
        name = backend
    if model is None:
        raise UserError("evaluate(): model is required")
    names = tasks if isinstance(tasks, str) else ",".join(tasks)
    options.setdefault("show_progress", False)
    run_options = make_run_options(model=model, backend=name, tasks=names, **options)  # `jlce run`'s checks and messages
    return Evaluator(run_options, instance).execute().results
