"""Quiet Hugging Face loading and saving: no per-shard progress bars (model loading, the tiny model build)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_progress() -> Iterator[None]:
    """No per-shard progress bars from transformers inside the block."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()
