"""Request cache: SQLite in WAL mode, keyed by model fingerprint + full request.

A second model never reads the first one's answers (its fingerprint differs), and any change to
the prompt or generation parameters changes the key. Each backend batch is committed in one
transaction, so a killed run keeps everything up to its last finished batch.

Each answer also records the engine that computed it (`Backend.engine()`: e.g. torch and
transformers versions and the CUDA/ROCm/CPU build). The engine is not part of the key: by default
(`--cache-policy reuse`) an answer computed by another engine version is reused and counted in
results.json (`cache.other_engine`); `--cache-policy strict` recomputes such answers instead.
The file is checked on open (`PRAGMA quick_check`): a damaged or read-only cache is refused
with a message that says which, before any model loads.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from jlce.errors import JLCEError, UserError
from jlce.requests import Request, Result, request_to_dict, result_from_dict, result_to_dict

SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    kind TEXT NOT NULL,
    answer TEXT NOT NULL,
    created REAL NOT NULL,
    engine TEXT
);
CREATE INDEX IF NOT EXISTS answers_model ON answers(model);
CREATE TABLE IF NOT EXISTS identities (
    base TEXT NOT NULL,
    id TEXT NOT NULL,
    probe TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (base, id)
);
"""

CACHE_POLICIES = ("reuse", "strict")


class CacheWriteError(JLCEError):
    """The cache could not be written (full disk, read-only file system)."""


def fingerprint_hash(fingerprint: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()


def engine_id(engine: dict[str, Any] | None) -> str | None:
    """The stored form of `Backend.engine()` (None when the backend reports nothing)."""
    return json.dumps(engine, sort_keys=True, default=str) if engine else None


def request_key(model_hash: str, request: Request) -> str:
    payload = json.dumps(request_to_dict(request), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(f"{model_hash}\x00{payload}".encode()).hexdigest()


class RequestCache:
    def __init__(self, path: Path, policy: str = "reuse", engine: dict[str, Any] | None = None):
        if policy not in CACHE_POLICIES:
            raise UserError(f"--cache-policy must be one of {', '.join(CACHE_POLICIES)}, not '{policy}'")
        self.path = path
        self.engine = engine_id(engine)
        self.policy = policy
        self.other_engine = 0  # answers served that another engine version computed
        self.refused = 0  # answers from another engine version recomputed (strict policy)
        _check_writable(path)
        try:
            self._db = sqlite3.connect(str(path), timeout=60.0, isolation_level=None)
            self._db.execute("PRAGMA busy_timeout=60000")
            self._check_integrity()
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            self._migrate()
            self._db.execute("SELECT count(*) FROM answers LIMIT 1").fetchone()
        except sqlite3.DatabaseError as error:
            raise UserError(_describe(path, error)) from None

    def use_engine(self, engine: dict[str, Any] | None) -> None:
        """The engine of the loaded backend (known only after the cache is opened and checked)."""
        self.engine = engine_id(engine)

    def stats(self) -> dict[str, Any]:
        return {"policy": self.policy, "engine": json.loads(self.engine) if self.engine else None,
                "other_engine": self.other_engine, "refused_other_engine": self.refused}

    def _check_integrity(self) -> None:
        rows = [row[0] for row in self._db.execute("PRAGMA quick_check(5)").fetchall()]
        if rows != ["ok"]:
            found = " ".join(str(row).replace("*** in database main ***", "") for row in rows).split()
            raise UserError(f"request cache {self.path} is damaged (SQLite quick_check: {' '.join(found)[:300]}); "
                            "move it away (its answers are recomputed) or run with --no-cache")

    def _migrate(self) -> None:
        """Caches written before engine versions were recorded get the column (their answers: engine unknown)."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(answers)")}
        if "engine" not in columns:
            try:
                self._db.execute("ALTER TABLE answers ADD COLUMN engine TEXT")
            except sqlite3.OperationalError as error:
                if "duplicate column" not in str(error):  # another process added it first
                    raise

    def get_many(self, model_hash: str, requests: Sequence[Request]) -> dict[int, Result]:
        """Cached answers by position in `requests`."""
        keys = [request_key(model_hash, r) for r in requests]
        found: dict[str, tuple[str, str, str | None]] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            try:
                rows = self._db.execute(f"SELECT key, kind, answer, engine FROM answers WHERE key IN ({marks})", chunk).fetchall()
            except sqlite3.DatabaseError as error:
                raise UserError(_describe(self.path, error)) from None
            found.update({key: (kind, answer, engine) for key, kind, answer, engine in rows})
        answers: dict[int, Result] = {}
        for index, key in enumerate(keys):
            if key in found:
                kind, answer, engine = found[key]
                if engine != self.engine:
                    if self.policy == "strict":
                        self.refused += 1
                        continue
                    self.other_engine += 1
                try:
                    answers[index] = result_from_dict(kind, json.loads(answer))
                except (ValueError, TypeError, KeyError):
                    continue  # a damaged entry is recomputed
        return answers

    def put_many(self, model_hash: str, pairs: Iterable[tuple[Request, Result]]) -> None:
        now = time.time()
        rows = [(request_key(model_hash, req), model_hash, req.kind, json.dumps(result_to_dict(res), ensure_ascii=False), now,
                 self.engine) for req, res in pairs]
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany("INSERT OR REPLACE INTO answers (key, model, kind, answer, created, engine) "
                                     "VALUES (?, ?, ?, ?, ?, ?)", rows)
        except sqlite3.OperationalError as error:  # e.g. "database or disk is full"
            raise CacheWriteError(f"could not store answers in {self.path}: {error}; the answers stored so far are "
                                  "kept: free space and run the same command again") from None

    def weights_identity(self, base: str, probe: list[float]) -> str:
        """The id of the stored weights probe of fingerprint `base` that `probe` matches (same
        weights), else a new id, stored (new weights). See jlce.identity."""
        from jlce.identity import probe_id, probes_match

        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                rows = self._db.execute("SELECT id, probe FROM identities WHERE base = ? ORDER BY created", (base,)).fetchall()
                for known, stored in rows:
                    if probes_match(json.loads(stored), probe):
                        return known
                new = probe_id(probe)
                self._db.execute("INSERT OR IGNORE INTO identities VALUES (?, ?, ?, ?)", (base, new, json.dumps(probe), time.time()))
                return new
        except sqlite3.OperationalError as error:
            raise CacheWriteError(f"could not store the weights probe in {self.path}: {error}") from None

    def count(self, model_hash: str | None = None) -> int:
        if model_hash is None:
            return self._db.execute("SELECT count(*) FROM answers").fetchone()[0]
        return self._db.execute("SELECT count(*) FROM answers WHERE model = ?", (model_hash,)).fetchone()[0]

    def close(self) -> None:
        self._db.close()


def _check_writable(path: Path) -> None:
    """A cache is written next to itself (SQLite's -wal and -shm files): say plainly when it cannot be."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"cannot create the request cache's folder {path.parent}: {error.strerror or error}; "
                        "choose another with --cache-path or run with --no-cache") from None
    if path.is_dir():
        raise UserError(f"request cache {path} is a directory; --cache-path names a file")
    if (path.exists() and not os.access(path, os.R_OK | os.W_OK)) or not os.access(path.parent, os.W_OK | os.X_OK):
        where = path if path.exists() and not os.access(path, os.W_OK) else path.parent
        raise UserError(f"request cache {path} is read-only ({where} is not writable); make it writable, choose another "
                        "file with --cache-path, or run with --no-cache")


def _describe(path: Path, error: sqlite3.DatabaseError) -> str:
    text = str(error)
    if "not a database" in text:
        return f"request cache {path} is unreadable: not an SQLite database; move it away or run with --no-cache"
    if "readonly" in text or "read-only" in text:
        return f"request cache {path} is read-only ({text}); make it writable, choose another file with --cache-path, or run with --no-cache"
    if "malformed" in text or "corrupt" in text:
        return f"request cache {path} is damaged ({text}); move it away (its answers are recomputed) or run with --no-cache"
    return f"request cache {path} cannot be used ({text}); move it away or run with --no-cache"
