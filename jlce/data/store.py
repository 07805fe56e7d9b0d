"""The data directory: source files stored by their sha256, verified on the way in."""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

from jlce.errors import DataError, DataMissing
from jlce.offline import offline
from jlce.data.verify import sha256_file, verify
from jlce.paths import contained, data_dir
from jlce.taskschema import FileSource

CHUNK = 1 << 20


def stored_path(source: FileSource, root: Path | None = None) -> Path:
    """Where a source file lives in the data directory (resolved; never outside it, even through a
    symbolic link)."""
    return contained(root or data_dir(), f"files/{source.sha256}/{source.name}", what="data file")


def find(source: FileSource, root: Path | None = None) -> Path | None:
    """The stored file, or None when absent (its checksum is checked where it is read: verify.py)."""
    path = stored_path(source, root)
    return path if path.is_file() else None


def local_path(task_file: Path, source: FileSource) -> Path:
    """A data file shipped beside a task definition: inside the task's directory, present."""
    assert source.path is not None
    path = contained(task_file.parent, source.path, what="data file path", file=task_file, key="dataset.files")
    if not path.is_file():
        raise DataError(f"packaged data file '{source.path}' not found in {task_file.parent}"
                        + (" (it is a directory)" if path.is_dir() else ""))
    return path


def verified_local(base: Path, source: FileSource) -> Path:
    """A data file shipped beside a task definition, after checking its sha256."""
    path = local_path(base / "task.yaml", source)
    verify(path, source.sha256)
    return path


def _install(tmp: Path, source: FileSource, origin: str, root: Path | None) -> Path:
    actual = sha256_file(tmp)
    if actual != source.sha256:
        tmp.unlink(missing_ok=True)
        raise DataError(f"checksum mismatch for {origin}: expected sha256 {source.sha256}, got {actual}")
    target = stored_path(source, root)  # refuses a name or a link that would leave the data directory
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, target)
    return target


def _temp_in(root: Path | None) -> Path:
    base = contained(root or data_dir(), "tmp", what="data directory folder")
    base.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=base)
    os.close(fd)
    return Path(name)


def add_local(path: Path, source: FileSource, root: Path | None = None) -> Path:
    """Register a local copy of a source file after verifying its checksum."""
    tmp = _temp_in(root)
    shutil.copyfile(path, tmp)
    return _install(tmp, source, str(path), root)


def download(source: FileSource, root: Path | None = None, timeout: float = 60.0) -> Path:
    """Fetch a source file by URL into the data directory, verifying its checksum."""
    url = source.url
    if url is None:
        raise DataMissing(f"{source.name} has no URL to download (it ships with its task)")
    if offline():  # JLCE_OFFLINE: never open a connection
        raise DataMissing(f"JLCE_OFFLINE is set: not downloading {url}")
    tmp = _temp_in(root)
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "jlce"})
        with urllib.request.urlopen(request, timeout=timeout) as response, open(tmp, "wb") as out:
            shutil.copyfileobj(response, out, CHUNK)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise DataMissing(f"could not download {url}: {error}") from None
    return _install(tmp, source, url, root)
