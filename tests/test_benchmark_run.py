"""The whole JLCE benchmark (`--tasks jlce`) on a tiny model with the real data from ../shared/data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from e2e_helpers import jlce, jlce_env

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# task -> folder of ../shared/data holding its sources
SOURCES = {
    "jcommonsenseqa": "jglue-v1.3/jcommonsenseqa", "jnli": "jglue-v1.3/jnli", "jsquad": "jglue-v1.3/jsquad",
    "jsts": "jglue-v1.3/jsts", "jcola": "jcola-v1.0", "ud_pos": "ud-japanese-gsd",
    "dependency": "wikipedia-annotated-corpus", "chunking": "wikipedia-annotated-corpus", "mgsm_ja": "mgsm",
    "janli": "janli", "jsem": "jsem-v1.0", "jsquad_qg": "jglue-v1.3/jsquad", "wmt23_enja": "wmt23",
    "xwinograd_ja": "xwinograd",
}
EXPECTED_METRICS = {
    "jcommonsenseqa": {"acc"}, "jsquad": {"exact_match", "char_f1"}, "jsts": {"pearson", "spearman"},
    "jcola": {"acc", "mcc"}, "ud_pos": {"token_accuracy"}, "dependency": {"dependency_set_f1"}, "chunking": {"chunk_f1"},
    "mgsm_ja": {"acc"}, "janli": {"acc"}, "jsem": {"acc"}, "jsquad_qg": {"bleu", "rougeL"}, "wmt23_enja": {"bleu", "chrf"},
    "xwinograd_ja": {"acc"},
}


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is absent")
def test_jlce_group_runs_on_every_task_whose_data_is_present(tmp_path, tiny_model_dir):
    env = jlce_env(tmp_path / "cache", JLCE_DATA_DIR=str(tmp_path / "data"))
    for task, folder in SOURCES.items():
        added = jlce("data", "add", task, str(SHARED / folder), env=env)
        assert added.returncode == 0, added.stderr
    out = tmp_path / "run"
    result = jlce("run", "--model", str(tiny_model_dir), "--tasks", "jlce", "--limit", "2", "--num-fewshot", "0",
                  "--skip-missing-data", "-o", str(out), "-q", env=env, timeout=1800)
    assert result.returncode == 0, result.stderr
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    ran = set(results["tasks"])
    assert set(EXPECTED_METRICS) <= ran
    for task, metrics in EXPECTED_METRICS.items():
        entry = results["tasks"][task]
        assert metrics <= set(entry["metrics"]), task
        assert entry["n_samples"] == 2 and entry["data_source"] == "cache"
    # Hub-only tasks need the `datasets` extra and their data; they are skipped with a reason, never scored as 0.
    assert set(results["skipped_tasks"]) | ran == set(SOURCES) | {"jnli", "xlsum_ja", "snow_simplification"}
    for reason in results["skipped_tasks"].values():
        assert "jlce data" in reason or "jlce[datasets]" in reason
