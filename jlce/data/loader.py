"""Load a task's split: from the data directory, by download, from the hub, or from its fixture."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from jlce.data import hubcache, store
from jlce.errors import ConfigError, DataDamaged, DataError, DataMissing, UserError
from jlce.offline import enforce as enforce_offline
from jlce.offline import offline
from jlce.data.verify import ChecksumMismatch, read_verified
from jlce.paths import contained
from jlce.registry import get_registry
from jlce.specs import resolve
from jlce.taskschema import DatasetConfig

DataSource = Literal["auto", "fixture"]


@dataclass(frozen=True)
class SplitData:
    docs: list[dict[str, Any]]
    source: str  # "cache" | "download" | "hub" | "fixture"
    files: tuple[tuple[str, str], ...]  # (file name, sha256) of the files read


def _read(dataset: DatasetConfig, paths: list[Path], task_file: Path, task: str = "", split: str = "") -> list[dict[str, Any]]:
    registry = get_registry()
    reader = resolve(registry.get("readers", dataset.format).fn)
    owner = f"task '{task}': " if task else ""
    try:
        docs = reader(paths, **dataset.reader_args)
    except TypeError as error:
        raise ConfigError(f"bad reader_args for format '{dataset.format}': {error}", file=task_file, key="dataset.reader_args") from None
    except DataMissing:
        raise
    except DataError as error:  # the reader located the problem (file, line)
        raise DataDamaged(f"{owner}damaged data file: {error}{_refetch_hint(task)}") from None
    except (ValueError, KeyError, IndexError, UnicodeDecodeError, EOFError, OSError, RecursionError) as error:
        raise DataDamaged(f"{owner}damaged data file {', '.join(map(str, paths))}: cannot be read as '{dataset.format}': "
                          f"{type(error).__name__}: {error}{_refetch_hint(task)}") from None
    return _process(dataset, docs, task_file, task, paths, split)


def _process(dataset: DatasetConfig, docs: list[dict[str, Any]], task_file: Path, task: str, origin: list[Path] | str,
             split: str = "") -> list[dict[str, Any]]:
    for step in [*dataset.process, *dataset.split_process.get(split, [])]:
        processor = resolve(get_registry().get("processors", step.name).fn)
        try:
            docs = processor(docs, **step.args)
        except TypeError as error:
            raise ConfigError(f"bad args for processor '{step.name}': {error}", file=task_file, key="dataset.process") from None
        except DataMissing:
            raise
        except (DataError, ValueError, KeyError) as error:
            where = origin if isinstance(origin, str) else ", ".join(map(str, origin))
            raise DataDamaged(f"task '{task}': {where}: processor '{step.name}' refused the data: {error}") from None
    return docs


def _refetch_hint(task: str) -> str:
    if not task:
        return ""
    return (f". Replace it with a good copy: `jlce data add {task} PATH` (verified by sha256), or delete it and run "
            f"`jlce data pull --tasks {task}` on a machine with internet")


def _missing_message(task: str, split: str, missing: list[str]) -> str:
    return (
        f"data for task '{task}' split '{split}' is not in the data directory ({', '.join(missing)}). "
        f"Get it with `jlce data pull --tasks {task}` on a machine with internet (then copy the data "
        f"directory, $JLCE_DATA_DIR), or register a local copy with `jlce data add {task} PATH`; "
        f"`--data fixture` runs on the small sample data that ships with JLCE"
    )


def load_split(task: str, dataset: DatasetConfig, split: str, task_file: Path, mode: DataSource = "auto") -> SplitData:
    if mode == "fixture":
        return _load_fixture(task, dataset, split, task_file)
    if dataset.hub is not None:
        return _load_hub(task, dataset, split, task_file)
    sources = (dataset.files or {}).get(split)
    if not sources:
        raise ConfigError(f"no files for split '{split}'", file=task_file, key="dataset.files")
    paths: list[Path] = []
    how = "cache"
    missing = [s.url for s in sources if s.url and store.find(s) is None]
    if missing and offline():  # never try the network: fail at once, saying how to provide the files
        raise DataMissing(f"JLCE_OFFLINE is set: {_missing_message(task, split, missing)}")
    for source in sources:
        if source.path is not None:
            paths.append(store.local_path(task_file, source))
            how = "packaged"
            continue
        path = store.find(source)
        if path is None:
            try:
                path = store.download(source)
            except DataMissing as error:
                raise DataMissing(f"{error}. {_missing_message(task, split, [source.url or source.name])}") from None
            how = "download"
        paths.append(path)
    # The bytes read are checked against the declared sha256 on every use (re-hashed when a file changed).
    try:
        docs, digests = read_verified([(p, s.sha256) for p, s in zip(paths, sources)], lambda: _read(dataset, paths, task_file, task, split))
    except ChecksumMismatch as error:
        fix = ("restore the file shipped with the task" if how == "packaged" else
               f"replace it with a good copy (`jlce data add {task} PATH`), or delete it and run `jlce data pull --tasks {task}`")
        raise ChecksumMismatch(f"task '{task}': {error}; {fix}") from None
    return SplitData(docs=docs, source=how, files=tuple((s.name, digest) for s, digest in zip(sources, digests)))


def _load_fixture(task: str, dataset: DatasetConfig, split: str, task_file: Path) -> SplitData:
    relative = dataset.fixture.get(split)
    if not relative:
        raise UserError(f"task '{task}' has no fixture data for split '{split}'")
    paths = [contained(task_file.parent, name, what="fixture file", file=task_file, key="dataset.fixture") for name in relative]
    for name, path in zip(relative, paths):
        if not path.is_file():
            raise ConfigError(f"fixture file '{name}' not found in {task_file.parent}", file=task_file, key="dataset.fixture")
    docs, digests = read_verified([(p, None) for p in paths], lambda: _read(dataset, paths, task_file, task, split))
    files = tuple((p.name, digest) for p, digest in zip(paths, digests))
    return SplitData(docs=docs, source="fixture", files=files)


def _load_hub(task: str, dataset: DatasetConfig, split: str, task_file: Path) -> SplitData:
    hub = dataset.hub
    assert hub is not None
    hub_split = hub.splits.get(split, split)
    source = f"hub dataset {hub.path}@{hub.revision} (split '{hub_split}')"
    if not Path(hub.path).is_absolute() and Path(hub.path).exists():  # datasets would read that local folder instead
        raise ConfigError(f"refusing hub dataset '{hub.path}': a local folder of that name exists in {Path.cwd()} "
                          "and would be read instead of the hub", file=task_file, key="dataset.hub.path")
    if offline():
        state = hubcache.state(hub)
        if not state.present:  # decided from the cache folders alone: no import, no connection
            raise DataMissing(
                f"JLCE_OFFLINE is set and task '{task}' reads the {source}, which is not in the local "
                f"Hugging Face caches ({state.detail}). Run `jlce data pull --tasks {task}` on a machine with "
                f"internet and copy its HF_HOME here (or point HF_HOME at a shared cache)")
        enforce_offline()
    try:
        import datasets  # heavy: only when a hub task is used
    except ImportError:
        raise DataMissing(f"task '{task}' reads a Hugging Face dataset: install it with `pip install 'jlce[datasets]'`") from None
    try:
        loaded = datasets.load_dataset(hub.path, hub.name, revision=hub.revision, split=hub_split)
    except Exception as error:  # the datasets library raises many types for "not available"
        offline_note = " (offline: only the local cache was read)" if offline() else ""
        raise DataMissing(f"task '{task}': could not load the {source}{offline_note}: {type(error).__name__}: "
                          f"{' '.join(str(error).split())[:500]}. Run `jlce data pull --tasks {task}` where the hub is "
                          f"reachable, with HF_HOME shared") from None
    docs = _process(dataset, [dict(row) for row in loaded], task_file, task, source, split)
    fingerprint = getattr(loaded, "_fingerprint", "") or hashlib.sha256(repr(hub).encode()).hexdigest()
    return SplitData(docs=docs, source="hub", files=((f"{hub.path}@{hub.revision}:{hub_split}", fingerprint),))
