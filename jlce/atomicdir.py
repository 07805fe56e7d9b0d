"""Publishing a whole folder at once: written beside its target, fsynced, then renamed in.

A full disk or a kill while writing leaves the previous folder as it was; readers see either the
old folder or the new one, never a mix and never a file cut short.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import tempfile
from pathlib import Path


def exchange(a: Path, b: Path) -> None:
    """Swap two folders atomically (Linux renameat2 RENAME_EXCHANGE); where that is missing, three
    renames, so that `b` holds either of the two complete folders or (for a moment) nothing."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        renameat2 = None
    if renameat2 is not None:
        at_fdcwd, rename_exchange = -100, 2
        if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
            return
    aside = a.with_name(a.name + ".old")
    os.rename(b, aside)
    os.rename(a, b)
    os.rename(aside, a)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_folder(target: Path, files: dict[str, str]) -> list[Path]:
    """Make `target` hold `files` (name -> text), all written before any becomes visible.

    A new or empty target, or one holding only these file names, is replaced as a whole by one
    rename. A target with other files too keeps them: each of ours is renamed in whole.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name[:80]}.", suffix=".tmp", dir=target.parent))
    try:
        for name, text in files.items():
            with open(staging / name, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
        _fsync_dir(staging)
        os.chmod(staging, 0o777 & ~_umask())
        existing = set(os.listdir(target)) if target.is_dir() else None
        if existing is None or not existing:
            os.rename(staging, target)  # onto a missing or empty folder
        elif existing <= set(files):
            exchange(staging, target)
        else:
            for name in files:
                os.replace(staging / name, target / name)
        _fsync_dir(target.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [target / name for name in files]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
