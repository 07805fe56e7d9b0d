"""MLflow logger: `--log mlflow` (`pip install 'jlce[mlflow]'`).

Logs the payload of `jlce.tracking` into one MLflow run: parameters, metrics (task scores with
their interval bounds and n, profile figures), tags, results.json, samples and provenance as
artifacts, and each task's samples as an MLflow table artifact (`samples/<task>.json`).
The tracking URI is `--log-arg tracking_uri=...`, else `MLFLOW_TRACKING_URI`, else MLflow's default.
"""

from __future__ import annotations

import os
from typing import Any

from jlce.hookspecs import hookimpl
from jlce.specs import LoggerSpec

OPTIONS = ("tracking_uri", "experiment", "run_name", "tags", "artifact_location")
PARAMS_PER_CALL = 100  # MLflow's batch limit for parameters


@hookimpl
def jlce_register_loggers(register):
    register(LoggerSpec("mlflow", "jlce.plugins.loggers.mlflow_logger:MLflowLogger", options=OPTIONS, extra="mlflow",
                        description="MLflow tracking: params, metrics with intervals, artifacts, samples tables"))


def parse_tags(text: str | None) -> dict[str, str]:
    """`--log-arg tags=a,b,team:nlp`: bare words become tags with the value "true"."""
    tags: dict[str, str] = {}
    for part in (text or "").split(","):
        key, sep, value = part.strip().partition(":")
        if key:
            tags[key] = value if sep else "true"
    return tags


class MLflowLogger:
    def __init__(self, options: dict[str, str]):
        from jlce.extras import require

        require("mlflow", "--log mlflow")
        self.options = options
        self.tracking_uri = options.get("tracking_uri") or os.environ.get("MLFLOW_TRACKING_URI")
        self.experiment = options.get("experiment", "jlce")
        self.tags = parse_tags(options.get("tags"))

    def _experiment_id(self, client) -> str:
        found = client.get_experiment_by_name(self.experiment)
        if found is not None:
            return found.experiment_id
        return client.create_experiment(self.experiment, artifact_location=self.options.get("artifact_location"))

    def log(self, payload) -> dict[str, Any]:
        from pathlib import Path

        from mlflow.entities import Metric, Param, RunTag
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=self.tracking_uri)
        tags = {**payload.tags, **self.tags, "mlflow.runName": self.options.get("run_name") or payload.name}
        run = client.create_run(self._experiment_id(client), tags=tags)
        run_id = run.info.run_id
        try:
            params = [Param(k, v) for k, v in payload.params.items()]
            for start in range(0, len(params), PARAMS_PER_CALL):
                client.log_batch(run_id, params=params[start:start + PARAMS_PER_CALL])
            stamp = int(run.info.start_time or 0)
            metrics = [Metric(k, v, stamp, 0) for k, v in payload.metrics.items()]
            for start in range(0, len(metrics), 1000):
                client.log_batch(run_id, metrics=metrics[start:start + 1000])
            for artifact, path in payload.files.items():
                folder = str(Path(artifact).parent) if Path(artifact).parent != Path(".") else None
                client.log_artifact(run_id, str(path), artifact_path=folder)
            for artifact, document in payload.documents.items():
                client.log_dict(run_id, document, artifact)
            for name, (columns, rows) in payload.tables.items():
                data = {column: [row[i] for row in rows] for i, column in enumerate(columns)}
                client.log_table(run_id, data, f"{name}.json")
        except Exception:
            client.set_terminated(run_id, status="FAILED")
            raise
        client.set_terminated(run_id, status="FINISHED")
        return {"run_id": run_id, "experiment_id": run.info.experiment_id, "tracking_uri": client.tracking_uri,
                "artifact_uri": run.info.artifact_uri}

