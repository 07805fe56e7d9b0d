"""What the local Hugging Face caches hold for a task's hub dataset, read from the folders alone
(no import of `datasets`, no connection): `jlce data ls` shows it, and offline runs decide from
it at once whether a hub task can load.

Two caches matter. `datasets.load_dataset` prepares each dataset into
`$HF_DATASETS_CACHE/<owner>___<name>/<config>/<version>/<commit sha>/` (the arrow files that
offline mode reads back), from files downloaded into the hub cache
`$HF_HUB_CACHE/datasets--<owner>--<name>/snapshots/<commit sha>/`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from jlce.taskschema import HubSource


def _hf_home() -> Path:
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "huggingface"


def datasets_cache() -> Path:
    value = os.environ.get("HF_DATASETS_CACHE")
    return Path(value).expanduser() if value else _hf_home() / "datasets"


def hub_cache() -> Path:
    value = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    return Path(value).expanduser() if value else _hf_home() / "hub"


@dataclass(frozen=True)
class HubCacheState:
    present: bool
    detail: str  # one line for people: what is where
    prepared: tuple[Path, ...] = ()  # datasets-cache folders of this revision
    snapshot: Path | None = None  # hub-cache snapshot of this revision


def state(hub: HubSource) -> HubCacheState:
    """Whether `hub` (at its pinned revision) is in the local caches, and where."""
    local = Path(hub.path).expanduser()
    if local.is_dir():
        return HubCacheState(True, f"local folder {local}")
    prepared_root = datasets_cache() / hub.path.replace("/", "___")
    configs = [hub.name] if hub.name else ["*"]
    prepared = tuple(sorted(
        path for config in configs for path in prepared_root.glob(f"{config}/*/{hub.revision}") if path.is_dir()
    ))
    snapshot = hub_cache() / f"datasets--{hub.path.replace('/', '--')}" / "snapshots" / hub.revision
    has_snapshot = snapshot.is_dir() and any(snapshot.iterdir())
    if prepared:
        return HubCacheState(True, f"prepared in {prepared[0]}", prepared, snapshot if has_snapshot else None)
    if has_snapshot:
        return HubCacheState(True, f"downloaded to {snapshot} (not yet prepared by datasets)", (), snapshot)
    other = sorted(p.name for p in prepared_root.glob("*/*/*") if p.is_dir()) if prepared_root.is_dir() else []
    note = f"; other revisions cached: {', '.join(r[:12] for r in other)}" if other else ""
    return HubCacheState(False, f"not in {datasets_cache()} nor {hub_cache()}{note}")
