"""Identify a model's files: which weight files it loads, their sha256 (hashed once per file
version and remembered), the tokenizer files' hash, and the hub commit of a snapshot."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path

from jlce.data.store import sha256_file

_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")

TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
    "tokenizer.model", "spiece.model", "vocab.json", "vocab.txt", "merges.txt",
    "chat_template.jinja", "chat_template.json",
)


def hash_cache_path() -> Path:
    from jlce.paths import cache_dir

    return cache_dir() / "weight_hashes.json"


def snapshot_commit(directory: Path) -> str | None:
    """The hub commit of a `.../snapshots/<commit>/` directory of the Hugging Face cache."""
    directory = Path(directory)
    if directory.parent.name == "snapshots" and _HEX40.match(directory.name):
        return directory.name
    return None


def hub_snapshot_dir(repo_id: str, revision: str | None) -> Path | None:
    """The cached snapshot directory that `from_pretrained(repo_id, revision)` read, if any."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        return None
    found = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    return Path(found).parent if isinstance(found, str) else None


def weight_files(directory: Path) -> list[Path]:
    """The files `from_pretrained` loads weights from: the shards of a safetensors (else a
    PyTorch) index, else the single weights file, else every `*.safetensors` in the directory."""
    directory = Path(directory)
    for index_name, single in (("model.safetensors.index.json", "model.safetensors"),
                               ("pytorch_model.bin.index.json", "pytorch_model.bin")):
        index = directory / index_name
        if index.is_file():
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
            return [directory / shard for shard in shards]
        if (directory / single).is_file():
            return [directory / single]
    return sorted(directory.glob("*.safetensors"))


def _lfs_oid(path: Path) -> str | None:
    """Files in the Hugging Face cache are links to `blobs/<sha256>` for large (LFS) files: the
    blob name is the sha256 of the content, so reading 100 GB again is unnecessary."""
    if not path.is_symlink():
        return None
    target = path.resolve()
    return target.name if target.parent.name == "blobs" and _HEX64.match(target.name) else None


def file_sha256(path: Path, cache_file: Path | None = None) -> str:
    """sha256 of a file; remembered in a JSON file keyed by (real path, size, mtime_ns)."""
    from filelock import FileLock

    from jlce.paths import atomic_write_text

    path = Path(path)
    oid = _lfs_oid(path)
    if oid:
        return oid
    real = path.resolve()
    stat = real.stat()
    key = f"{real}|{stat.st_size}|{stat.st_mtime_ns}"
    cache_file = cache_file or hash_cache_path()
    known = _read_json(cache_file)
    if key in known:
        return known[key]
    value = sha256_file(real)
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache_file) + ".lock"):
        known = _read_json(cache_file)
        prefix = f"{real}|"
        known = {k: v for k, v in known.items() if not k.startswith(prefix)}  # drop stale versions
        known[key] = value
        atomic_write_text(cache_file, json.dumps(known, indent=1, sort_keys=True) + "\n")
    return value


def _read_json(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def combined_sha256(files: Iterable[Path], cache_file: Path | None = None) -> str:
    """One hash over several files: sha256 of `name<TAB>sha256` lines in name order."""
    lines = sorted(f"{Path(f).name}\t{file_sha256(Path(f), cache_file)}\n" for f in files)
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def tokenizer_files(directory: Path) -> list[Path]:
    directory = Path(directory)
    found = [directory / name for name in TOKENIZER_FILES if (directory / name).is_file()]
    return found + sorted(directory.glob("*.tiktoken"))


def text_sha256(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()
