"""Error types. A `UserError` is the user's to fix: the CLI prints it without a traceback and exits 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


class JLCEError(Exception):
    """Base class of every error JLCE raises on purpose."""


class UserError(JLCEError):
    """Bad input (arguments, files, names). Printed as one short message; exit status 2."""

    exit_code = 2


class ConfigError(UserError):
    """A malformed definition file, located by file, line and key."""

    def __init__(self, message: str, *, file: str | Path | None = None, line: int | None = None, key: str | None = None):
        self.file = str(file) if file is not None else None
        self.line = line
        self.key = key
        self.detail = message
        where = ""
        if self.file:
            where = self.file + (f":{line}" if line else "")
        prefix = f"{where}: " if where else ""
        keypart = f"key '{key}': " if key else ""
        super().__init__(f"{prefix}{keypart}{message}")


class PluginError(JLCEError):
    """A plugin broke a contract (duplicate name, wrong type, failing backend)."""


class DataError(UserError):
    """Data missing, unreadable or failing its checksum."""


class DataMissing(DataError):
    """A task's data is not on this machine (not downloaded, not cached, offline).
    `--skip-missing-data` skips such tasks (and says so); nothing else is skipped."""


class DataDamaged(DataError):
    """A data file is present but cannot be used: unreadable, malformed, failing its checksum,
    or holding an item that cannot be scored (a bad label, an empty choice, an empty split)."""


def nearest(name: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to `name`, or None when nothing is close."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """' (did you mean 'x'?)' or ''."""
    match = nearest(name, candidates)
    return f" (did you mean '{match}'?)" if match else ""
