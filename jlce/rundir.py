"""A run's output folder: checked and reserved before any model loads, filled in a private
staging folder beside it, and published whole by one rename at the end.

- The default folder `results/<model>/<run id>/` is created exclusively; the run id is the UTC
  start time plus a random suffix, so two runs started in the same second never share it.
- `--output-dir DIR` must be new or empty; a DIR holding results needs `--overwrite`, which
  swaps the new folder in atomically (nobody ever sees old samples beside a new results.json).
- A run that fails or is interrupted leaves DIR as it was; its staging folder (`.jlce-<id>.partial`,
  locked while its run lives) is removed then, or by the next run in the same parent folder.
"""

from __future__ import annotations

import errno
import fcntl
import os
import secrets
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from jlce.atomicdir import exchange
from jlce.errors import UserError

STAGING_SUFFIX = ".partial"


def new_run_id(started: datetime) -> str:
    """`20261202T013200Z-3fa91c`: sortable by start time, unique by its random suffix."""
    return f"{started.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


@dataclass
class RunFolder:
    target: Path
    staging: Path
    run_id: str
    overwrite: bool
    created: list[Path]  # folders this run created (the target, missing parents), deepest first
    _lock_fd: int
    kept: bool = False

    def publish(self) -> Path:
        """Move the finished staging folder to the target (replacing it with --overwrite)."""
        try:
            os.rename(self.staging, self.target)  # onto a missing or empty folder: atomic
        except OSError as error:
            taken = error.errno in (errno.ENOTEMPTY, errno.EEXIST)
            if not (taken and self.overwrite):
                kept = self._keep()
                if taken:
                    raise UserError(f"{self.target} received another run's results while this one ran; this run's "
                                    f"results are kept in {kept} (use a new --output-dir, or --overwrite)") from None
                raise UserError(f"cannot move the results to {self.target}: {error.strerror}; they are kept in {kept}") from None
            exchange(self.staging, self.target)
            shutil.rmtree(self.staging, ignore_errors=True)  # now the previous results
        self._unlock()
        return self.target

    def _keep(self) -> Path:
        """Rename the finished staging folder out of the way of the stale-folder clean-up."""
        kept = self.staging.with_name(self.staging.name.removesuffix(STAGING_SUFFIX) + ".kept")
        try:
            os.rename(self.staging, kept)
            self.staging = kept
        except OSError:
            pass
        self.created = []
        self.kept = True
        self._unlock()
        return self.staging

    def discard(self) -> None:
        """The run did not finish: drop its staging folder and the folders it created (if still empty)."""
        if not self.kept:
            shutil.rmtree(self.staging, ignore_errors=True)
        self._unlock()
        for folder in self.created:
            try:
                folder.rmdir()
            except OSError:
                break

    def _unlock(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1


def prepare_run_folder(target: Path | None, default_parent: Path, run_id: str, overwrite: bool) -> RunFolder:
    """Check and reserve the output folder, and create the staging folder beside it.

    Every problem (a parent that is a file, a read-only disk, a name too long, existing results
    without --overwrite) is a UserError naming the folder, raised before the model loads.
    """
    explicit = target is not None
    target = Path(target) if target is not None else default_parent / run_id
    flag = "--output-dir " if explicit else "output folder "
    created: list[Path] = []
    try:
        if target.exists() or target.is_symlink():
            _check_existing(target, overwrite, flag)
        created = [parent for parent in target.parents if not parent.exists()]
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            target.mkdir()  # the reservation; exclusive for the default folder
            created.insert(0, target)
        except FileExistsError:
            if not explicit:
                raise UserError(f"output folder {target} already exists (run id collision); run again") from None
        _remove_stale_staging(target.parent)
        staging, fd = _new_staging(target.parent, run_id)
    except UserError:
        raise
    except OSError as error:
        for folder in created:  # leave nothing behind
            try:
                folder.rmdir()
            except OSError:
                break
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise  # reported like every full disk (jlce.cli.common.fail_cleanly)
        raise UserError(f"{flag}{target}: cannot write there ({error.strerror or error}); choose another folder "
                        "(nothing was evaluated yet)") from None
    return RunFolder(target, staging, run_id, overwrite, created, fd)


def _check_existing(target: Path, overwrite: bool, flag: str) -> None:
    if not target.is_dir():
        raise UserError(f"{flag}{target} exists and is not a folder")
    entries = [p.name for p in target.iterdir()]
    if not entries:
        return
    if "results.json" not in entries and "samples" not in entries:
        raise UserError(f"{flag}{target} is not empty and holds no JLCE results; choose a new or empty folder")
    if not overwrite:
        raise UserError(f"{flag}{target} already holds results; add --overwrite to replace the whole folder, "
                        "or choose another folder")
    if not os.access(target, os.W_OK) or not os.access(target.parent, os.W_OK):
        raise UserError(f"{flag}{target} cannot be replaced: it or its parent folder is read-only")


def _new_staging(parent: Path, run_id: str) -> tuple[Path, int]:
    """Create `.jlce-<id>.partial`, locked (flock) before it gets its findable name."""
    fresh = parent / f".jlce-{run_id}.new"
    fresh.mkdir()
    fd = os.open(fresh, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    staging = parent / f".jlce-{run_id}{STAGING_SUFFIX}"
    os.rename(fresh, staging)
    return staging, fd


def _remove_stale_staging(parent: Path) -> None:
    """Staging folders whose run died (their lock is free) are removed."""
    for path in parent.glob(f".jlce-*{STAGING_SUFFIX}"):
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # a live run
        else:
            shutil.rmtree(path, ignore_errors=True)
        finally:
            os.close(fd)
