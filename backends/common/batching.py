"""Batch sizes: a fixed size, or `auto` (start large, halve when the device runs out of memory)."""

from __future__ import annotations

import gc
from dataclasses import dataclass, field

from jlce.errors import UserError

AUTO_START = 64


def parse_batch_size(value: int | str, auto_start: int = AUTO_START) -> tuple[int, bool]:
    """(starting size, adaptive?) from `--batch-size` (an integer or "auto")."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return auto_start, True
        if not text.isdigit():
            raise UserError(f"--batch-size must be a positive integer or 'auto', not '{value}'")
        value = int(text)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"--batch-size must be a positive integer or 'auto', not '{value}'")
    return value, False


def is_out_of_memory(error: BaseException) -> bool:
    """True for torch's out-of-memory errors on CUDA/ROCm and for a failed CPU allocation."""
    import torch

    oom_type = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
    if isinstance(error, oom_type):
        return True
    if isinstance(error, (RuntimeError, MemoryError)):
        text = str(error).lower()
        return "out of memory" in text or "can't allocate memory" in text
    return False


def release_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


@dataclass
class BatchSizer:
    """The batch size in force; `shrink` halves it after an out-of-memory error when adaptive."""

    size: int
    adaptive: bool
    used: list[int] = field(default_factory=list)

    def record(self, size: int) -> None:
        if size not in self.used:
            self.used.append(size)

    def shrink(self, error: BaseException) -> None:
        """Halve the size, or raise a `UserError` when the size is fixed or already 1."""
        release_memory()
        if not self.adaptive:
            raise UserError(
                f"out of memory at batch size {self.size}: use a smaller --batch-size or --batch-size auto"
            ) from error
        if self.size == 1:
            raise UserError("out of memory even at batch size 1: use a smaller model, dtype or max length") from error
        self.size //= 2
