"""Helpers for tests that run the real `jlce` command in a subprocess."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from tolerances import assert_logprob_close

REPO = Path(__file__).resolve().parents[1]

TOY_TASK = """\
task: {name}
version: "1"
category: semantic
license: CC0-1.0
dataset:
  format: jsonl
  files:
    test:
      - path: {data}
        sha256: {sha}
eval_split: test
output_type: multiple_choice
prompt: "{{{{ q }}}}は"
choices: ["{{{{ a }}}}", "{{{{ b }}}}", "{{{{ c }}}}"]
gold: "{{{{ label }}}}"
metrics:
  - name: acc
"""

TOY_GEN_TASK = """\
task: {name}
version: "1"
category: generation
license: CC0-1.0
dataset:
  format: jsonl
  files:
    test:
      - path: {data}
        sha256: {sha}
eval_split: test
output_type: generate_until
prompt: "{{{{ q }}}}："
target: "{{{{ a }}}}"
generation:
  until: ["。"]
  max_new_tokens: 6
metrics:
  - name: exact_match
"""

WORDS = ["山", "川", "空", "海", "森", "花", "雨", "雪", "風", "星", "月", "町"]


def write_toy_tasks(directory: Path, n_items: int = 60) -> Path:
    """Two tasks over original toy items: multiple choice and generation."""
    directory.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n_items):
        w = [WORDS[(i + k) % len(WORDS)] for k in range(4)]
        rows.append(json.dumps({"q": f"{w[0]}と{w[1]}の{i}番目", "a": w[2], "b": w[3] + w[0], "c": w[1] * 2, "label": i % 3}, ensure_ascii=False))
    data = "\n".join(rows) + "\n"
    (directory / "toy.jsonl").write_text(data, encoding="utf-8")
    sha = hashlib.sha256(data.encode()).hexdigest()
    (directory / "toy_mc.yaml").write_text(TOY_TASK.format(name="toy_mc", data="toy.jsonl", sha=sha), encoding="utf-8")
    (directory / "toy_gen.yaml").write_text(TOY_GEN_TASK.format(name="toy_gen", data="toy.jsonl", sha=sha), encoding="utf-8")
    return directory


def jlce_env(cache_dir: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "JLCE_CACHE_DIR": str(cache_dir), "JLCE_OFFLINE": "1", **extra}
    env.pop("JLCE_DEBUG", None)
    return env


def jlce(*args: str, env: dict[str, str], timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jlce", *args], capture_output=True, text=True, env=env, timeout=timeout, **kwargs)


def scores(run_dir: Path) -> dict:
    """The parts of results.json that must be identical between equivalent runs."""
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    return {name: {"metrics": {m: v["value"] for m, v in entry["metrics"].items()}, "n": entry["n_samples"],
                   "data_hash": entry["data_hash"], "definition_hash": entry["definition_hash"]}
            for name, entry in results["tasks"].items()}


def samples(run_dir: Path) -> dict[str, list[dict]]:
    out = {}
    for path in sorted((run_dir / "samples").glob("*.jsonl")):
        out[path.stem] = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return out


def assert_samples_match(got: dict[str, list[dict]], expected: dict[str, list[dict]]) -> None:
    """Samples equal but for log-probabilities, which may differ by float rounding (within
    tolerances.logprob_tolerance of their size and token count) when a resumed run batches the
    remaining requests differently; texts, choices and metrics are exact."""
    assert got.keys() == expected.keys()
    for task in expected:
        assert len(got[task]) == len(expected[task]), task
        for row, ref in zip(got[task], expected[task]):
            assert _strip_logprobs(row) == _strip_logprobs(ref), (task, row["doc_id"])
            for a, b in zip(row.get("choices", []), ref.get("choices", [])):
                assert_logprob_close(a["logprob"], b["logprob"], b.get("tokens") or 1, task, row["doc_id"])


def _strip_logprobs(row: dict) -> dict:
    out = dict(row)
    if "choices" in out:
        out["choices"] = [{k: v for k, v in c.items() if k != "logprob"} for c in out["choices"]]
    return out
