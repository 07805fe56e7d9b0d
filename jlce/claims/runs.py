"""Bind the run labels of a claims file to run directories, and compare their provenance."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jlce.claims.quantities import RunRecord, load_run_record
from jlce.claims.schema import LABEL_PATTERN, RunSelector
from jlce.errors import UserError
from jlce.leaderboard.inputs import expand_run_dirs


@dataclass(frozen=True)
class Bound:
    """Runs of each label (oldest first), and runs that no label took."""

    runs: Mapping[str, tuple[RunRecord, ...]]
    unused: tuple[RunRecord, ...]


def split_run_args(args: Sequence[str]) -> tuple[dict[str, list[str]], list[str]]:
    """`LABEL=RUN_DIR` bindings and plain run directories (an existing path always reads as a path)."""
    import re

    bound: dict[str, list[str]] = {}
    loose: list[str] = []
    for arg in args:
        label, sep, target = arg.partition("=")
        if sep and not Path(arg).exists() and re.match(LABEL_PATTERN, label):
            if not target:
                raise UserError(f"'{arg}': expected LABEL=RUN_DIR")
            bound.setdefault(label, []).append(target)
        else:
            loose.append(arg)
    return bound, loose


def matches(selector: RunSelector, run: RunRecord) -> bool:
    if selector.model is not None and not fnmatch.fnmatchcase(run.model, selector.model):
        return False
    if selector.path is not None:
        text = str(run.path)
        if not (fnmatch.fnmatchcase(text, selector.path) or fnmatch.fnmatchcase(run.path.name, selector.path)
                or fnmatch.fnmatchcase(str(run.path.resolve()), selector.path)):
            return False
    if selector.fingerprint is not None and not run.fingerprint_hash.startswith(selector.fingerprint):
        return False
    return selector.run_id is None or run.run_id == selector.run_id


def _describe(selector: RunSelector) -> str:
    fields = selector.model_dump(exclude_none=True, exclude={"description"})
    return ", ".join(f"{k}={v}" for k, v in fields.items())


def bind_runs(selectors: Mapping[str, RunSelector], run_args: Sequence[str]) -> Bound:
    """Each label gets its LABEL=RUN_DIR runs, else the plain runs its selector matches.

    Several runs of one label are repeated runs of one model; runs of different models
    (fingerprints) under one label are refused.
    """
    bound_args, loose_args = split_run_args(run_args)
    loose = [load_run_record(p) for p in expand_run_dirs(loose_args)] if loose_args else []
    out: dict[str, tuple[RunRecord, ...]] = {}
    taken: set[int] = set()
    for label in sorted(set(selectors) | set(bound_args)):
        if label in bound_args:
            runs = [load_run_record(p) for p in expand_run_dirs(bound_args[label])]
        else:
            runs = [r for r in loose if matches(selectors[label], r)]
            taken.update(id(r) for r in runs)
        models = {r.fingerprint_hash or r.model for r in runs}
        if len(models) > 1:
            listing = "; ".join(f"{r.path} ({r.model})" for r in runs)
            how = f"selector {_describe(selectors[label])}" if label not in bound_args else "LABEL=RUN_DIR"
            raise UserError(f"run label '{label}' ({how}) matches runs of {len(models)} different models: {listing}. "
                            "A label's runs must be repeats of one model: narrow the selector")
        out[label] = tuple(sorted(runs, key=lambda r: (r.created_at, str(r.path))))
    unused = tuple(r for r in loose if id(r) not in taken)
    return Bound(out, unused)


# Environment variables that change speed or numerics (thread counts, visible devices, engines).
SPEED_ENV_PREFIXES = ("OMP_", "MKL_", "OPENBLAS_", "KMP_", "CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES",
                      "VLLM_", "TORCH_", "PYTORCH_", "NCCL_", "HSA_", "HIP_FORCE", "TOKENIZERS_PARALLELISM")


def _software(run: RunRecord) -> dict[str, Any]:
    provenance = run.results.get("provenance") or {}
    software = provenance.get("software") or {}
    torch = software.get("torch") or {}
    packages = software.get("packages") or {}
    environment = provenance.get("environment") or {}
    env = {f"env {k}": v for k, v in environment.items() if k.startswith(SPEED_ENV_PREFIXES)}
    return {
        **env,
        "backend": (run.results.get("model") or {}).get("backend"), "jlce": software.get("jlce"),
        "python": software.get("python"), "torch": torch.get("version") if isinstance(torch, Mapping) else torch,
        "cuda": torch.get("cuda") if isinstance(torch, Mapping) else None,
        "hip": torch.get("hip") if isinstance(torch, Mapping) else None,
        "vllm": software.get("vllm"), "transformers": packages.get("transformers"),
        "nvidia_driver": software.get("nvidia_driver"), "rocm": software.get("rocm"),
    }


def _hardware(run: RunRecord) -> dict[str, Any]:
    hardware = (run.results.get("provenance") or {}).get("hardware") or {}
    cpu = hardware.get("cpu") or {}
    gpus = [str(g.get("name") or "unnamed GPU") for g in hardware.get("gpus") or [] if isinstance(g, Mapping)]
    return {"cpu": cpu.get("model"), "cpu_cores": cpu.get("usable_cores"), "gpus": ", ".join(gpus) or "none"}


def provenance_flags(labelled: Sequence[tuple[str, RunRecord]]) -> list[str]:
    """Warnings when the runs behind one claim ran on different hardware or software."""
    if len(labelled) < 2:
        return []
    flags = []
    missing = [f"{label}:{run.run_id}" for label, run in labelled if not run.results.get("provenance")]
    if missing:
        flags.append(f"no provenance recorded for {', '.join(missing)}: hardware and software cannot be compared")
    present = [(label, run) for label, run in labelled if run.results.get("provenance")]
    for kind, signature in (("hardware", _hardware), ("software", _software)):
        if len(present) < 2:
            break
        sigs = [(label, signature(run)) for label, run in present]
        keys = sorted({k for _, s in sigs for k in s})
        differing = [k for k in keys if len({str(s.get(k)) for _, s in sigs}) > 1]
        for key in differing:
            values: dict[str, list[str]] = {}
            for label, s in sigs:
                values.setdefault("unset" if s.get(key) is None else str(s.get(key)), []).append(label)
            detail = " vs ".join(f"{v} ({', '.join(dict.fromkeys(ls))})" for v, ls in values.items())
            flags.append(f"different {kind}: {key} {detail}")
    return flags
