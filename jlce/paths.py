"""Where JLCE keeps things, and safe file writing."""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from pathlib import Path

from jlce.errors import UserError


def cache_dir() -> Path:
    """`$JLCE_CACHE_DIR`, else `$XDG_CACHE_HOME/jlce`, else `~/.cache/jlce`."""
    if os.environ.get("JLCE_CACHE_DIR"):
        return Path(os.environ["JLCE_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or (Path.home() / ".cache")
    return Path(base).expanduser() / "jlce"


def data_dir() -> Path:
    """`$JLCE_DATA_DIR`, else `<cache dir>/data`."""
    if os.environ.get("JLCE_DATA_DIR"):
        return Path(os.environ["JLCE_DATA_DIR"]).expanduser()
    return cache_dir() / "data"


def slug(name: str, max_length: int = 80) -> str:
    """A file-name-safe form of a model or task name: no separators, no '..', no NUL."""
    text = unicodedata.normalize("NFKC", name).replace("\x00", "")
    text = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")
    text = re.sub(r"\.{2,}", ".", text)
    return (text or "unnamed")[:max_length]


def check_unique_slugs(names: list[str], what: str = "task") -> None:
    """Refuse names that would share a file: equal slugs, compared without case (a case-insensitive
    file system, e.g. macOS's, would also merge them)."""
    seen: dict[str, str] = {}
    for name in names:
        key = slug(name).casefold()
        if key in seen and seen[key] != name:
            raise UserError(f"{what} names '{seen[key]}' and '{name}' would share the file name '{slug(name)}' "
                            f"(names are reduced to letters, digits, '.', '_' and '-', at most 80 characters); "
                            f"rename one of them")
        seen[key] = name


def path_problem(relative: str) -> str | None:
    """Why a path named in a file may not be used as a relative path, or None when its form is fine."""
    if not isinstance(relative, str) or not relative.strip():
        return "the path is empty"
    if "\x00" in relative:
        return "it contains a NUL byte"
    if "\\" in relative:
        return "it contains a backslash (write paths with '/')"
    if relative.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", relative):
        return "it is absolute (paths are relative to the file's own directory)"
    if ".." in relative.split("/"):
        return "it contains '..' (paths may not leave their directory)"
    return None


def contained(root: Path, relative: str, *, what: str = "path", file: str | Path | None = None,
              key: str | None = None) -> Path:
    """`root / relative`, resolved, after checking that it stays inside `root`: relative, no '..',
    and no symbolic link on the way that leads out of `root`. A refusal says which rule it broke
    (a ConfigError naming `file` and `key` when given); a path that stays inside but does not exist
    is returned, for the caller to report as missing."""
    from jlce.errors import ConfigError

    problem = path_problem(relative)
    if problem:
        raise ConfigError(f"refusing {what} {relative!r}: {problem}", file=file, key=key)
    base = Path(root).resolve()
    target = (base / relative).resolve()
    if not target.is_relative_to(base):
        raise ConfigError(f"refusing {what} {relative!r}: a symbolic link leads out of {base} (it resolves to {target})",
                          file=file, key=key)
    return target


def inside(base: Path, relative: str) -> Path:
    """`base / relative`, refusing anything that would land outside `base`."""
    if "\x00" in relative or Path(relative).is_absolute():
        raise UserError(f"refusing path '{relative!r}': must be relative, without NUL bytes")
    target = (base / relative).resolve()
    if not target.is_relative_to(base.resolve()):
        raise UserError(f"refusing path '{relative}': it leaves {base}")
    return target


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over `path`.

    A crash or a full disk leaves the previous file intact.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))
