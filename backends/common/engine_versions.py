"""What computes a backend's answers, for `Backend.engine()`: library versions and the build and
device kind (CPU, CUDA, ROCm). Answers computed by different engines can differ in the last bits
(and, for generation, in the text); the request cache records this next to each answer."""

from __future__ import annotations

from importlib import metadata
from typing import Any


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def torch_build() -> str:
    """'cuda 12.4', 'rocm 6.2' or 'cpu': the build of the installed torch."""
    import torch

    if getattr(torch.version, "hip", None):
        return f"rocm {torch.version.hip}"
    if getattr(torch.version, "cuda", None):
        return f"cuda {torch.version.cuda}"
    return "cpu"


def torch_engine(device: Any, *packages: str) -> dict[str, str]:
    """torch's version and build, the device kind that computes, and `packages`' versions."""
    engine = {"torch": package_version("torch"), "torch_build": torch_build(), "device": str(getattr(device, "type", device))}
    engine.update({name: package_version(name) for name in packages})
    return engine
