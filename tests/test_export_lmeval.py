"""`jlce export --format lmeval` against a real `lm_eval` run of the same tasks and model: the
same keys at every level, the same metric values and prompts, file names that lm-eval's own
helpers read, and lm-eval's own `make_table` renders the export. A JLCE-native task's export is
checked against lm-eval's layout too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("lm_eval")
pytest.importorskip("torch")

from e2e_helpers import jlce, jlce_env  # noqa: E402
from test_lmeval_bridge import lmeval_tasks  # noqa: E402,F401  (the shared task files fixture)

TASKS = ("jb_mc", "jb_gen")


def _files(folder: Path) -> tuple[dict, dict[str, list[dict]]]:
    from lm_eval import utils

    names = [str(p) for p in folder.rglob("*.json*")]
    results_file = utils.get_latest_filename(utils.get_results_filenames(names))
    samples = {}
    for name in utils.get_sample_results_filenames(names):
        task = utils.get_file_task_name(Path(name).name)
        samples[task] = [json.loads(line) for line in Path(name).read_text(encoding="utf-8").splitlines()]
    return json.loads(Path(results_file).read_text(encoding="utf-8")), samples


@pytest.fixture(scope="module")
def both(tmp_path_factory, tiny_model_dir, lmeval_tasks):  # noqa: F811
    tmp = tmp_path_factory.mktemp("export")
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    reference = subprocess.run(
        [sys.executable, "-m", "lm_eval", "--model", "hf", "--model_args", f"pretrained={tiny_model_dir},dtype=float32",
         "--tasks", ",".join(TASKS), "--include_path", str(lmeval_tasks), "--batch_size", "4", "--device", "cpu",
         "--output_path", str(tmp / "lm_eval"), "--log_samples"],
        env=env, capture_output=True, text=True, timeout=900, check=False)
    assert reference.returncode == 0, reference.stderr[-3000:]
    jenv = jlce_env(tmp / "cache", HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1")
    run = tmp / "run"
    done = jlce("run", "--model", str(tiny_model_dir), "--tasks", ",".join(f"lmeval:{t}" for t in TASKS),
                "--include-path", str(lmeval_tasks), "--batch-size", "4", "--dtype", "float32", "-o", str(run), "-q",
                env=jenv, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    done = jlce("export", str(run), "--format", "lmeval", "-o", str(tmp / "export"), env=jenv)
    assert done.returncode == 0, done.stderr[-3000:]
    return _files(tmp / "lm_eval"), _files(tmp / "export"), run


def test_results_have_lm_evals_keys_and_values(both):
    (theirs, _), (ours, _), _ = both
    assert set(theirs) <= set(ours)
    assert set(ours) - set(theirs) <= {"jlce", "start_time", "end_time"}
    for task in TASKS:
        assert set(ours["results"][task]) == set(theirs["results"][task])
        for key, value in theirs["results"][task].items():
            assert ours["results"][task][key] == pytest.approx(value, rel=1e-9, abs=1e-12) if isinstance(value, float) \
                else ours["results"][task][key] == value, key
        for section in ("versions", "n-shot", "higher_is_better", "n-samples"):
            assert ours[section][task] == theirs[section][task], section
    assert set(ours["config"]) == set(theirs["config"])
    assert ours["config"]["model"] == "transformers" and ours["model_name"] == theirs["model_name"]
    assert ours["model_name_sanitized"] == theirs["model_name_sanitized"]


def test_samples_have_lm_evals_keys_prompts_and_scores(both):
    (_, their_samples), (_, our_samples), _ = both
    assert set(our_samples) == set(their_samples) == set(TASKS)
    for task in TASKS:
        theirs = {row["doc_id"]: row for row in their_samples[task]}
        assert len(our_samples[task]) == len(theirs)
        for row in our_samples[task]:
            reference = theirs[int(row["doc_id"])]
            assert set(row) == set(reference)
            assert row["target"] == reference["target"] and row["target_hash"] == reference["target_hash"]
            assert row["prompt_hash"] == reference["prompt_hash"]
            assert [a["arg_0"] for a in row["arguments"].values()] == [a["arg_0"] for a in reference["arguments"].values()]
            for metric in reference["metrics"]:
                assert row[metric] == reference[metric]
            if task == "jb_mc":  # per-choice log-likelihoods agree per token count (fp32 sums)
                ours = [float(r[0][0]) for r in row["resps"]]
                lm = [float(r[0][0]) for r in reference["resps"]]
                assert ours == pytest.approx(lm, abs=1e-4)
            else:
                assert row["resps"] == reference["resps"] and row["filtered_resps"] == reference["filtered_resps"]
                assert row["arguments"]["gen_args_0"]["arg_1"]["max_gen_toks"] == 8


def test_lm_evals_own_table_renders_the_export(both):
    from lm_eval.utils import make_table

    _, (ours, _), _ = both
    table = make_table(ours)
    for task in TASKS:
        assert task in table
    assert f"{ours['results']['jb_mc']['acc,none']:.4f}" in table


def test_native_task_export_follows_the_layout(tmp_path):
    env = jlce_env(tmp_path / "cache")
    run = tmp_path / "run"
    done = jlce("run", "--model", "toy", "--backend", "dummy", "--backend-arg", "reply=傘", "--tasks",
                "jcommonsenseqa,jsquad", "--data", "fixture", "-o", str(run), "-q", env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    done = jlce("export", str(run), "-o", str(tmp_path / "export"), env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    exported, samples = _files(tmp_path / "export")
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    for task, entry in results["tasks"].items():
        for metric, value in entry["metrics"].items():
            assert exported["results"][task][f"{metric},none"] == value["value"]
            assert exported["results"][task][f"{metric}_stderr,none"] == value["stderr"]
        rows = [json.loads(line) for line in (run / "samples" / f"{task}.jsonl").read_text(encoding="utf-8").splitlines()]
        assert [s["doc_id"] for s in samples[task]] == [r["doc_id"] for r in rows]
        assert [s[entry["primary_metric"]] for s in samples[task]] == [r["metrics"][entry["primary_metric"]] for r in rows]
    mc = samples["jcommonsenseqa"][0]
    assert len(mc["arguments"]) == len(mc["resps"]) == len(mc["doc"]["choices"])
    assert samples["jsquad"][0]["resps"][0][0].startswith("傘") or samples["jsquad"][0]["resps"] == [["傘"]]


def test_export_of_a_folder_without_a_run_is_a_clean_error(tmp_path):
    done = jlce("export", str(tmp_path), "-o", str(tmp_path / "x"), env=jlce_env(tmp_path / "cache"))
    assert done.returncode == 2 and "results.json" in done.stderr and "Traceback" not in done.stderr
