"""`JLCE_OFFLINE=1`: no code path opens a network connection.

JLCE's own downloads check `offline()` before connecting. The Hugging Face libraries (hub
client, datasets, transformers) read their own offline switches, mostly once at import time:
`enforce()` sets them in the environment (the CLI calls it before anything imports those
libraries) and also in the modules already imported, so that library calls fail at once
instead of retrying against an unreachable hub.
"""

from __future__ import annotations

import os
import sys

HF_OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def _set(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no", "off")


def offline() -> bool:
    """True when JLCE must not use the network (`JLCE_OFFLINE`, or the hub's own `HF_HUB_OFFLINE`)."""
    return _set(os.environ.get("JLCE_OFFLINE")) or _set(os.environ.get("HF_HUB_OFFLINE"))


def enforce() -> None:
    """When offline, switch the Hugging Face libraries to their offline modes (no-op otherwise)."""
    if not offline():
        return
    os.environ.update(HF_OFFLINE_ENV)
    # Modules imported before this call read their switch already: set it where it lives.
    patches = {
        "huggingface_hub.constants": ("HF_HUB_OFFLINE",),
        "datasets.config": ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"),
        "transformers.utils.hub": ("_is_offline_mode",),
    }
    for module_name, attributes in patches.items():
        module = sys.modules.get(module_name)
        for attribute in attributes:
            if module is not None and hasattr(module, attribute):
                setattr(module, attribute, True)
