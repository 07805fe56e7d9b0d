"""`jlce run --tasks lmeval:<task-or-group>`: lm-eval tasks (local YAMLs and jsonl data written here)
answered by JLCE's transformers backend, scored with lm-eval's own functions, and compared with
what lm-eval's `simple_evaluate` reports for the same tiny model and data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("lm_eval")
pytest.importorskip("torch")

from e2e_helpers import jlce, jlce_env
from tolerances import assert_logprob_close

QUESTIONS = [
    ("日本で一番高い山は？", ["富士山", "高尾山", "筑波山"], 0), ("猫の鳴き声は？", ["わんわん", "にゃあ", "もーもー"], 1),
    ("一年は何か月？", ["十か月", "十一か月", "十二か月"], 2), ("信号の止まれは何色？", ["赤", "青", "黄色"], 0),
    ("日本の首都は？", ["大阪", "東京", "京都"], 1), ("水が凍ると？", ["湯", "蒸気", "氷"], 2),
    ("朝の挨拶は？", ["おはよう", "こんばんは", "さようなら"], 0), ("空の色は？", ["緑", "青", "紫"], 1),
    ("犬の鳴き声は？", ["にゃあ", "こけこっこー", "わんわん"], 2), ("一週間は何日？", ["七日", "五日", "十日"], 0),
]

MC_YAML = """task: jb_mc
dataset_path: json
dataset_kwargs:
  data_files:
    train: {train}
    test: {test}
training_split: train
test_split: test
fewshot_split: train
num_fewshot: 2
output_type: multiple_choice
doc_to_text: "質問：{{{{question}}}}\\n答え："
doc_to_choice: choices
doc_to_target: label
target_delimiter: ""
fewshot_delimiter: "\\n\\n"
metric_list:
  - metric: acc
  - metric: acc_norm
metadata:
  version: 1.0
"""

GEN_YAML = """task: jb_gen
dataset_path: json
dataset_kwargs:
  data_files:
    test: {test}
test_split: test
output_type: generate_until
doc_to_text: "質問：{{{{question}}}}\\n答え："
doc_to_target: "{{{{choices[label]}}}}"
generation_kwargs:
  until: ["\\n", "。"]
  max_gen_toks: 8
  do_sample: false
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
metadata:
  version: 2.0
"""

GROUP_YAML = """group: jb_group
task:
  - jb_mc
  - jb_gen
"""


@pytest.fixture(scope="module")
def lmeval_tasks(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("lmeval_tasks")
    rows = [{"question": q, "choices": c, "label": g} for q, c, g in QUESTIONS]
    for split, part in (("train", rows[:4]), ("test", rows[4:])):
        (directory / f"{split}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part),
                                                  encoding="utf-8")
    paths = {split: json.dumps(str(directory / f"{split}.jsonl")) for split in ("train", "test")}
    (directory / "jb_mc.yaml").write_text(MC_YAML.format(**paths), encoding="utf-8")
    (directory / "jb_gen.yaml").write_text(GEN_YAML.format(test=paths["test"]), encoding="utf-8")
    (directory / "jb_group.yaml").write_text(GROUP_YAML, encoding="utf-8")
    return directory


def lm_eval_reference(model_dir: Path, tasks_dir: Path, out: Path) -> dict:
    """lm-eval's own run (HF backend, simple_evaluate) on the same model and tasks, in a subprocess."""
    script = f"""
import json
from lm_eval import simple_evaluate
from lm_eval.tasks import TaskManager
result = simple_evaluate(model="hf", model_args={{"pretrained": {str(model_dir)!r}, "dtype": "float32"}},
                         tasks=["jb_mc", "jb_gen"], task_manager=TaskManager(include_path={str(tasks_dir)!r}, include_defaults=False),
                         batch_size=4, device="cpu", log_samples=True)
samples = {{task: [{{"doc_id": s["doc_id"], "resps": s["resps"], "filtered_resps": s["filtered_resps"]}}
            for s in rows] for task, rows in result["samples"].items()}}
json.dump({{"results": result["results"], "samples": samples}}, open({str(out)!r}, "w"), default=str)
"""
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text(encoding="utf-8"))


def test_bridge_metrics_equal_lm_evals_own(tmp_path, tiny_model_dir, lmeval_tasks):
    env = jlce_env(tmp_path / "cache", HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1")
    out = tmp_path / "run"
    done = jlce("run", "--model", str(tiny_model_dir), "--tasks", "lmeval:jb_group", "--include-path", str(lmeval_tasks),
                "--batch-size", "4", "--dtype", "float32", "-o", str(out), "-q", env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    reference = lm_eval_reference(tiny_model_dir, lmeval_tasks, tmp_path / "lm_eval.json")

    mc, gen = results["tasks"]["lmeval:jb_mc"], results["tasks"]["lmeval:jb_gen"]
    assert (mc["n_samples"], gen["n_samples"]) == (6, 6)
    assert (mc["num_fewshot"], gen["num_fewshot"], mc["version"], gen["version"]) == (2, 0, "1.0", "2.0")
    assert mc["output_type"] == "multiple_choice" and gen["output_type"] == "generate_until"
    assert mc["data_source"] == "packaged" and {f["name"] for f in mc["data_files"]} == {"train.jsonl", "test.jsonl"}
    for ours, task, metric in ((mc, "jb_mc", "acc"), (mc, "jb_mc", "acc_norm"), (gen, "jb_gen", "exact_match")):
        theirs = reference["results"][task]
        assert ours["metrics"][metric]["value"] == pytest.approx(theirs[f"{metric},none"], abs=1e-12)
        assert ours["metrics"][metric]["stderr"] == pytest.approx(theirs[f"{metric}_stderr,none"], rel=1e-9)

    rows = {name: [json.loads(line) for line in (out / "samples" / f"lmeval_{name}.jsonl").read_text(encoding="utf-8").splitlines()]
            for name in ("jb_mc", "jb_gen")}
    their_mc = {s["doc_id"]: s for s in reference["samples"]["jb_mc"]}
    for row in rows["jb_mc"]:  # the same few-shot prompts and choices: log-likelihoods agree per choice
        lls = [float(r[0]) for r in their_mc[row["doc_id"]]["filtered_resps"]]
        for choice, theirs in zip(row["choices"], lls, strict=True):  # lm-eval batches and pads differently
            assert_logprob_close(choice["logprob"], theirs, choice["tokens"], row["doc_id"], per_token=1e-4)
        assert row["prompt"].count("質問：") == 3  # two lm-eval few-shot examples + the item
    their_gen = {s["doc_id"]: s for s in reference["samples"]["jb_gen"]}
    for row in rows["jb_gen"]:
        assert row["response"]["raw"] == their_gen[row["doc_id"]]["resps"][0][0]


def test_bridge_results_follow_the_results_schema(tmp_path, tiny_model_dir, lmeval_tasks):
    jsonschema = pytest.importorskip("jsonschema")
    env = jlce_env(tmp_path / "cache", HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1")
    out = tmp_path / "run"
    done = jlce("run", "--model", str(tiny_model_dir), "--tasks", "lmeval:jb_mc", "--include-path", str(lmeval_tasks),
                "--limit", "3", "--num-fewshot", "1", "-o", str(out), "-q", env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    docs = Path(__file__).resolve().parents[1] / "docs"
    schema = json.loads((docs / "results.schema.json").read_text(encoding="utf-8"))
    profiling = json.loads((docs / "profiling.schema.json").read_text(encoding="utf-8"))
    registry = Registry().with_resource(f"{schema['$id'].rsplit('/', 1)[0]}/profiling.schema.json",
                                        DRAFT202012.create_resource(profiling))
    jsonschema.Draft202012Validator(schema, registry=registry).validate(results)
    entry = results["tasks"]["lmeval:jb_mc"]
    assert entry["n_samples"] == 3 and entry["num_fewshot"] == 1
    again = jlce("run", "--model", str(tiny_model_dir), "--tasks", "lmeval:jb_mc", "--include-path", str(lmeval_tasks),
                 "--limit", "3", "--num-fewshot", "1", "-o", str(tmp_path / "again"), "-q", env=env, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    second = json.loads((tmp_path / "again" / "results.json").read_text(encoding="utf-8"))
    assert second["cache"]["hits"] == results["cache"]["misses"] > 0 and second["cache"]["misses"] == 0
    assert second["tasks"]["lmeval:jb_mc"]["metrics"] == entry["metrics"]


def test_unknown_lmeval_task_is_a_clean_error(tmp_path, tiny_model_dir, lmeval_tasks):
    env = jlce_env(tmp_path / "cache")
    done = jlce("run", "--model", str(tiny_model_dir), "--tasks", "lmeval:jb_mcq", "--include-path", str(lmeval_tasks),
                "-q", env=env, timeout=900)
    assert done.returncode == 2
    assert "unknown lm-eval task or group 'jb_mcq'" in done.stderr and "Traceback" not in done.stderr


def test_lm_eval_is_imported_only_for_lmeval_tasks():
    script = ("import sys, jlce.task, jlce.evaluator, jlce.scoring, jlce.cli.main; "
              "print('lm_eval' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
