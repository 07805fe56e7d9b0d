"""Weights & Biases logger: `--log wandb` (`pip install 'jlce[wandb]'`).

Logs the payload of `jlce.tracking` into one W&B run: the parameters as config, metrics into
the summary, results.json, samples and provenance as a `jlce-run` artifact, and each task's
samples as a `wandb.Table`. `--log-arg mode=offline` (or `WANDB_MODE=offline`) writes a local run
folder that `wandb sync` uploads later.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, cast

from jlce.hookspecs import hookimpl
from jlce.specs import LoggerSpec

OPTIONS = ("project", "entity", "run_name", "tags", "mode", "dir", "group")


@hookimpl
def jlce_register_loggers(register):
    register(LoggerSpec("wandb", "jlce.plugins.loggers.wandb_logger:WandbLogger", options=OPTIONS, extra="wandb",
                        description="Weights & Biases: config, summary metrics with intervals, artifacts, samples tables"))


class WandbLogger:
    def __init__(self, options: dict[str, str]):
        from jlce.extras import require

        require("wandb", "--log wandb")
        self.options = options

    def log(self, payload) -> dict[str, Any]:
        import wandb

        tags = [t.strip() for t in self.options.get("tags", "").split(",") if t.strip()]
        # wandb validates the mode itself (its settings also take the legacy "dryrun"/"run" that
        # WANDB_MODE may hold, which init's Literal annotation leaves out): passed through as is.
        mode = cast(Any, self.options.get("mode") or os.environ.get("WANDB_MODE") or None)
        run = wandb.init(project=self.options.get("project", "jlce"), entity=self.options.get("entity"),
                         name=self.options.get("run_name") or payload.name, group=self.options.get("group"),
                         job_type=f"jlce-{payload.kind}", tags=tags or None,
                         mode=mode,
                         dir=self.options.get("dir"), config=dict(payload.params), reinit="create_new")
        try:
            for key, value in payload.metrics.items():
                run.summary[key] = value
            for name, (columns, rows) in payload.tables.items():
                run.log({name: wandb.Table(columns=columns, data=rows)})
            artifact = wandb.Artifact(f"jlce-{payload.kind}-{run.id}", type=f"jlce-{payload.kind}")
            for name, path in payload.files.items():
                artifact.add_file(str(path), name=name)
            with tempfile.TemporaryDirectory() as scratch:
                for name, document in payload.documents.items():
                    target = Path(scratch) / name.replace("/", "_")
                    target.write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
                    artifact.add_file(str(target), name=name)
                run.log_artifact(artifact)
            reference = {"run_id": run.id, "project": run.project, "entity": run.entity or None,
                         "url": run.url or None, "dir": str(Path(run.dir).parent)}
        finally:
            run.finish()
        return {k: v for k, v in reference.items() if v is not None}
