"""ROCm (AMD GPU) support of the vLLM backend: HIP build detection and the MI300X preset.

`--backend-arg rocm_preset=mi300x` sets the environment variables AMD documents for vLLM on
MI300X (ROCm docs, "vLLM inference performance tuning" / "MI300X workload optimization"):

- `HIP_FORCE_DEV_KERNARG=1`: kernel arguments in device memory (lower launch latency);
- `TORCH_BLAS_PREFER_HIPBLASLT=1`: hipBLASLt for GEMMs;
- `SAFETENSORS_FAST_GPU=1`: safetensors loaded straight to the GPU;
- `VLLM_ROCM_USE_AITER=1`: AMD's AITER kernels in vLLM;
- `NCCL_MIN_NCHANNELS=112`: RCCL channels, only with more than one GPU.

They are set before vLLM is imported. A variable the user already set is kept as it is. The
record (`describe()["rocm"]`) lists exactly what was set and what was kept, plus every `HIP_*`,
`HSA_*`, `ROCR_*`, `RCCL_*` variable in force (`vllm collect_env` does not report them).
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from typing import Any

from jlce.errors import UserError

MI300X_ENV: dict[str, str] = {
    "HIP_FORCE_DEV_KERNARG": "1",
    "TORCH_BLAS_PREFER_HIPBLASLT": "1",
    "SAFETENSORS_FAST_GPU": "1",
    "VLLM_ROCM_USE_AITER": "1",
}
MI300X_MULTI_GPU_ENV: dict[str, str] = {"NCCL_MIN_NCHANNELS": "112"}
PRESETS = ("mi300x",)
ROCM_ENV_PREFIXES = ("HIP_", "HSA_", "ROCR_", "RCCL_", "ROCM_", "VLLM_ROCM_")


def hip_version() -> str | None:
    """The HIP version torch was built with (None for CUDA and CPU builds)."""
    import torch

    return getattr(torch.version, "hip", None) or None


def rocm_environment(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """ROCm-related variables in force (names sorted)."""
    environ = os.environ if environ is None else environ
    return {k: environ[k] for k in sorted(environ) if k.startswith(ROCM_ENV_PREFIXES)}


def preset_env(name: str, gpus: int) -> dict[str, str]:
    """The variables a preset sets for a run on `gpus` GPUs."""
    key = name.strip().lower()
    if key != "mi300x":
        raise UserError(f"unknown rocm_preset '{name}'; known: {', '.join(PRESETS)}")
    return {**MI300X_ENV, **(MI300X_MULTI_GPU_ENV if gpus > 1 else {})}


def apply_preset(name: str, *, gpus: int, hip: str | None,
                 environ: MutableMapping[str, str] | None = None) -> dict[str, Any]:
    """Set the preset's variables that are not already set; return what was set and kept.

    `hip` is the HIP version of the torch build (`hip_version()`): a preset on a non-ROCm build is
    a `UserError`, since the variables would do nothing there."""
    environ = os.environ if environ is None else environ
    wanted = preset_env(name, gpus)
    if not hip:
        raise UserError(f"rocm_preset={name} needs a ROCm (HIP) build of torch and vLLM; this torch has no HIP")
    applied: dict[str, str] = {}
    kept: dict[str, str] = {}
    for key, value in wanted.items():
        if key in environ:
            kept[key] = environ[key]
        else:
            environ[key] = value
            applied[key] = value
    return {"preset": name.strip().lower(), "set": applied, "kept": kept}


def rocm_record(hip: str | None, preset: dict[str, Any] | None,
                environ: MutableMapping[str, str] | None = None) -> dict[str, Any] | None:
    """What results.json records about ROCm: None on other builds."""
    if not hip:
        return None
    return {"hip_version": hip, "preset": preset, "environment": rocm_environment(environ)}
