"""The sha256 of a data file, checked on every use without re-reading unchanged files.

A file's digest is remembered with its size, mtime, ctime, inode and device (in
`<cache dir>/verified/`); it is hashed again whenever any of them changed, so an edited file
is never used under its old checksum, and an unchanged one costs one `stat`. `read_verified`
checks again after the caller has read the files: the bytes read are the bytes hashed, or the
read is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from jlce.errors import DataError
from jlce.paths import atomic_write_text, cache_dir

CHUNK = 1 << 20
T = TypeVar("T")


class ChecksumMismatch(DataError):
    """A file's bytes differ from the sha256 its task declares."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _identity(path: Path) -> list[int]:
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


def _record(path: Path) -> Path:
    key = hashlib.sha256(str(path).encode("utf-8", "surrogateescape")).hexdigest()
    return cache_dir() / "verified" / f"{key}.json"


def current_sha256(path: Path) -> str:
    """The sha256 of `path` now: from the record when the file's identity is unchanged, else hashed."""
    path = Path(path).resolve()
    identity = _identity(path)
    record = _record(path)
    try:
        saved = json.loads(record.read_text(encoding="utf-8"))
        if saved.get("path") == str(path) and saved.get("identity") == identity:
            return str(saved["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    digest = sha256_file(path)
    if _identity(path) == identity:  # not changing under us: worth remembering
        try:
            atomic_write_text(record, json.dumps({"path": str(path), "identity": identity, "sha256": digest}))
        except OSError:
            pass  # a read-only cache only costs a re-hash next time
    return digest


def verify(path: Path, expected: str, *, label: str | None = None) -> str:
    """Check `path` against `expected` (sha256); returns the digest or raises ChecksumMismatch."""
    actual = current_sha256(path)
    if actual != expected:
        raise ChecksumMismatch(
            f"checksum mismatch for {label or path}: the task declares sha256 {expected}, the file at {path} has "
            f"{actual} (edited or damaged; data is never used under another file's checksum)")
    return actual


def read_verified(files: list[tuple[Path, str | None]], read: Callable[[], T]) -> tuple[T, list[str]]:
    """`read()` between two checks of every (path, expected sha256 or None) in `files`; returns its
    value and the digests. The check after the read costs a `stat` when nothing changed and
    refuses a file that changed in between, so the digests are those of the bytes read."""
    digests = [verify(path, expected) if expected else current_sha256(path) for path, expected in files]
    value = read()
    for (path, _), digest in zip(files, digests):
        if current_sha256(path) != digest:
            raise DataError(f"{path} changed while it was being read; run the command again")
    return value, digests
