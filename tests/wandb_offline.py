"""Read back what a W&B offline run recorded, from its own transaction log (`run-<id>.wandb`).

The log is LevelDB's log format (32 KiB blocks; each chunk: crc32c 4 bytes, length 2 bytes
little-endian, type 1 byte: 1 full, 2 first, 3 middle, 4 last) after a 7-byte W&B header; each
record is W&B's own protobuf `Record` (`wandb.proto.wandb_internal_pb2`), which is what `wandb sync`
uploads. wandb 0.19+ reads it in its Go core only, so the tests decode the framing here and the
records with wandb's own message classes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BLOCK = 32768
HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> list[Any]:
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", "not a W&B transaction log"
    position, pending, out = HEADER, b"", []
    while position + HEADER <= len(data):
        left_in_block = BLOCK - position % BLOCK
        if left_in_block < HEADER:  # block trailer padding
            position += left_in_block
            continue
        length = int.from_bytes(data[position + 4:position + 6], "little")
        kind = data[position + 6]
        chunk = data[position + HEADER:position + HEADER + length]
        position += HEADER + length
        if kind == 0 and length == 0:
            continue
        if kind in (FULL, FIRST):
            pending = chunk
        elif kind in (MIDDLE, LAST):
            pending += chunk
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            out.append(record)
            pending = b""
    return out


def read_offline_run(run_dir: Path) -> dict[str, Any]:
    """config, summary (latest value per key), history rows, artifact names, and tables (by key)."""
    log = next(Path(run_dir).glob("run-*.wandb"))
    config: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    history: list[dict[str, Any]] = []
    artifacts: list[dict[str, Any]] = []
    for record in records(log):
        kind = record.WhichOneof("record_type")
        if kind in ("config", "run"):
            for item in (record.config if kind == "config" else record.run.config).update:
                if item.key != "_wandb":
                    config[item.key] = json.loads(item.value_json)
        elif kind == "summary":
            for item in record.summary.update:
                key = item.key or "/".join(item.nested_key)
                summary[key] = json.loads(item.value_json)
        elif kind == "history":
            row: dict[str, Any] = {}
            for item in record.history.item:
                if item.key:
                    row[item.key] = json.loads(item.value_json)
                else:  # a logged object's fields: ["samples/task", "path"] -> row["samples/task"]["path"]
                    *owner, leaf = item.nested_key
                    row.setdefault("/".join(owner), {})[leaf] = json.loads(item.value_json)
            history.append(row)
        elif kind == "artifact":
            artifacts.append({"name": record.artifact.name, "type": record.artifact.type,
                              "files": [entry.path for entry in record.artifact.manifest.contents]})
    tables = {}
    for row in history:
        for key, value in row.items():
            if isinstance(value, dict) and value.get("_type") == "table-file":
                table_file = Path(run_dir) / "files" / value["path"]
                tables[key] = json.loads(table_file.read_text(encoding="utf-8"))
    return {"config": config, "summary": summary, "history": history, "artifacts": artifacts, "tables": tables}
