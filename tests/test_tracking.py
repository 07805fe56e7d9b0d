"""Experiment trackers with the real libraries, offline: MLflow on a local SQLite store (read back
with MlflowClient) and W&B in offline mode (read back from its own transaction log). Runs come
from the real CLI with the torch-free dummy backend on the tasks' bundled data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from e2e_helpers import jlce, jlce_env

pytest.importorskip("mlflow")
pytest.importorskip("wandb")

from wandb_offline import read_offline_run  # noqa: E402

SECRET = "sk-trackertest9c1f7d2e4b6a8c0e"
TASKS = "jcommonsenseqa,jsquad"


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    return jlce_env(tmp / "cache", WANDB_SILENT="true", WANDB_MODE="offline", MY_SERVICE_TOKEN=SECRET,
                    MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", **extra)


def _run(tmp: Path, out: Path, *extra: str, env: dict[str, str] | None = None):
    return jlce("run", "--model", "toy-model", "--backend", "dummy", "--backend-arg", "reply=答え", "--tasks", TASKS,
                "--data", "fixture", "-o", str(out), "-q", *extra, env=env or _env(tmp), timeout=600)


def _expected_metrics(results: dict) -> dict[str, float]:
    expected = {}
    for task, entry in results["tasks"].items():
        expected[f"{task}/n"] = entry["n_samples"]
        for metric, value in entry["metrics"].items():
            expected[f"{task}/{metric}"] = value["value"]
            expected[f"{task}/{metric}.stderr"] = value["stderr"]
            expected[f"{task}/{metric}.ci95_low"], expected[f"{task}/{metric}.ci95_high"] = value["ci95"]
    return expected


def _no_secret_under(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), f"secret leaked into {path}"


@pytest.fixture(scope="module")
def mlflow_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mlflow")
    out = tmp / "run"
    store = f"sqlite:///{tmp / 'mlflow.db'}"
    done = _run(tmp, out, "--log", "mlflow", "--log-arg", f"tracking_uri={store}",
                "--log-arg", f"artifact_location={tmp / 'artifacts'}", "--log-arg", "experiment=jlce-tests",
                "--log-arg", "tags=nightly,team:nlp")
    assert done.returncode == 0, done.stderr[-3000:]
    return tmp, out, store


def test_mlflow_run_holds_every_metric_param_artifact_and_table(mlflow_run):
    from mlflow.tracking import MlflowClient

    tmp, out, store = mlflow_run
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    reference = results["loggers"]["mlflow"]
    client = MlflowClient(tracking_uri=store)
    logged = client.get_run(reference["run_id"])
    assert logged.info.status == "FINISHED"
    assert client.get_experiment(logged.info.experiment_id).name == "jlce-tests"

    expected = _expected_metrics(results)
    got = logged.data.metrics
    assert set(expected) <= set(got)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-12, abs=1e-15), name
    assert any(name.startswith("profile/timing/") for name in got)  # the timing profile as metrics

    params = logged.data.params
    assert params["model.fingerprint_hash"] == results["model"]["fingerprint_hash"]
    assert params["model.backend"] == "dummy" and params["config.tasks"] == TASKS
    assert params["task.jcommonsenseqa.definition_hash"] == results["tasks"]["jcommonsenseqa"]["definition_hash"]
    assert logged.data.tags["team"] == "nlp" and logged.data.tags["nightly"] == "true"

    artifacts = Path(reference["artifact_uri"])
    assert json.loads((artifacts / "provenance.json").read_text(encoding="utf-8")) == results["provenance"]
    for task in TASKS.split(","):
        rows = [json.loads(line) for line in (out / "samples" / f"{task}.jsonl").read_text(encoding="utf-8").splitlines()]
        assert (artifacts / "samples" / f"{task}.jsonl").read_bytes() == (out / "samples" / f"{task}.jsonl").read_bytes()
        table = json.loads((artifacts / "samples" / f"{task}.json").read_text(encoding="utf-8"))
        assert table["columns"] == ["doc_id", "prompt", "answer", "gold", "score"]
        primary = results["tasks"][task]["primary_metric"]
        assert [r[0] for r in table["data"]] == [row["doc_id"] for row in rows]
        assert [r[4] for r in table["data"]] == [row["metrics"][primary] for row in rows]
    logged_results = json.loads((artifacts / "results.json").read_text(encoding="utf-8"))
    assert logged_results["tasks"] == results["tasks"]


def test_mlflow_store_and_artifacts_hold_no_secret(mlflow_run):
    tmp, out, _ = mlflow_run
    assert SECRET not in (out / "results.json").read_text(encoding="utf-8")
    _no_secret_under(tmp / "artifacts")
    assert SECRET.encode() not in (tmp / "mlflow.db").read_bytes()


def test_wandb_offline_run_read_back_from_its_own_log(tmp_path):
    out = tmp_path / "run"
    done = _run(tmp_path, out)
    assert done.returncode == 0, done.stderr[-3000:]
    done = jlce("log", str(out), "--to", "wandb", "--log-arg", "mode=offline", "--log-arg", f"dir={tmp_path}",
                "--log-arg", "project=jlce-tests", "--log-arg", "tags=a,b", env=_env(tmp_path), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    reference = results["loggers"]["wandb"]
    logged = read_offline_run(Path(reference["dir"]))

    expected = _expected_metrics(results)
    for name, value in expected.items():
        assert logged["summary"][name] == pytest.approx(value, rel=1e-12, abs=1e-15), name
    assert logged["config"]["model.fingerprint_hash"] == results["model"]["fingerprint_hash"]
    assert logged["config"]["config.tasks"] == TASKS
    for task in TASKS.split(","):
        table = logged["tables"][f"samples/{task}"]
        rows = [json.loads(line) for line in (out / "samples" / f"{task}.jsonl").read_text(encoding="utf-8").splitlines()]
        assert table["columns"] == ["doc_id", "prompt", "answer", "gold", "score"]
        assert [r[0] for r in table["data"]] == [row["doc_id"] for row in rows]
        assert [r[1] for r in table["data"]] == [row["prompt"] for row in rows]
    files = next(a for a in logged["artifacts"] if a["type"] == "jlce-run")["files"]
    assert {"results.json", "provenance.json", "samples/jcommonsenseqa.jsonl", "samples/jsquad.jsonl"} <= set(files)
    _no_secret_under(Path(reference["dir"]))


def test_a_failing_logger_never_fails_the_run(tmp_path):
    out = tmp_path / "run"
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store's folder should be", encoding="utf-8")
    done = _run(tmp_path, out, "--log", "mlflow", "--log-arg", f"tracking_uri=sqlite:///{blocker}/sub/mlflow.db")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "logger mlflow failed" in done.stderr and "Traceback" not in done.stderr
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["tasks"]["jcommonsenseqa"]["metrics"]["acc"]["value"] is not None
    assert [e["plugin"] for e in results["errors"] if e["hook"] == "logger"] == ["mlflow"]
    assert "mlflow" not in results.get("loggers", {})


@pytest.mark.parametrize("args, message", [
    (("--log", "mlfow"), "unknown logger 'mlfow' (did you mean 'mlflow'?)"),
    (("--log", "mlflow", "--log-arg", "experiement=x"), "did you mean 'experiment'?"),
    (("--log", "wandb", "--log-arg", "wandb.projct=x"), "did you mean 'project'?"),
    (("--log-arg", "project=x"), "--log-arg needs --log NAME"),
    (("--log", "wandb", "--log-arg", "novalue"), "--log-arg expects KEY=VALUE"),
])
def test_bad_logger_options_fail_before_the_evaluation(tmp_path, args, message):
    out = tmp_path / "run"
    done = _run(tmp_path, out, *args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()


def test_log_command_on_a_folder_without_a_run(tmp_path):
    done = jlce("log", str(tmp_path), "--to", "mlflow", env=_env(tmp_path))
    assert done.returncode == 2 and "results.json" in done.stderr and "Traceback" not in done.stderr


def test_leaderboard_build_logs_its_ranking_and_files(tmp_path):
    env = _env(tmp_path)
    runs = []
    for model, reply in (("toy-a", "傘"), ("toy-b", "")):
        out = tmp_path / model
        done = jlce("run", "--model", model, "--backend", "dummy", "--backend-arg", f"reply={reply}", "--tasks", TASKS,
                    "--data", "fixture", "-o", str(out), "-q", env=env, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        runs.append(str(out))
    site = tmp_path / "site"
    done = jlce("leaderboard", "build", *runs, "-o", str(site), "--log", "wandb", "--log-arg", "mode=offline",
                "--log-arg", f"dir={tmp_path / 'wb'}", env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    logged = read_offline_run(next((tmp_path / "wb" / "wandb").glob("offline-run-*")))
    board = json.loads((site / "leaderboard.json").read_text(encoding="utf-8"))
    table = logged["tables"]["leaderboard"]
    expected = [[f"task:{scope['name']}", e["position"], e["model"], e["observed"], e["mean"], e["lo"], e["hi"],
                 e["expected_rank"], e["rank_ub"]] for scope in board["tasks"] for e in scope["entries"]]
    assert table["columns"][:3] == ["scope", "position", "model"]
    got = [row for row in table["data"] if row[0].startswith("task:")]
    assert [row[:3] for row in got] == [row[:3] for row in expected]
    assert [row[3:] for row in got] == [pytest.approx(row[3:], rel=1e-12) for row in expected]
    files = next(a for a in logged["artifacts"] if a["type"] == "jlce-leaderboard")["files"]
    assert {"leaderboard.json", "leaderboard.md", "leaderboard.csv", "index.html"} <= set(files)
