"""Provenance: git state of the working directory, run facts, and no secrets, ever."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys

import pytest

import jlce
from jlce.events import RunContext
from jlce.plugins.provenance import ProvenanceRecorder, git_info, task_info
from jlce.secrets import REDACTED, is_secret_name, is_secret_value, redact_args, redact_env, redact_mapping

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

SECRETS = {
    "HF_TOKEN": "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
    "OPENAI_API_KEY": "sk-proj-9f8e7d6c5b4a3f2e1d0c9b8a",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "MY_SERVICE_SECRET": "correct horse battery staple",
    "HF_HUB_TOKEN": "plain-words-but-named-as-a-token",
    "VLLM_API_KEY": "letmein",
    "CUDA_MPS_PASSWORD": "hunter2-hunter2",
}


def git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@example.org", "HOME": str(cwd), "PATH": "/usr/bin:/bin:/usr/local/bin"})


@pytest.fixture
def checkout(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git("init", "-q", cwd=repo)
    (repo / "eval.yaml").write_text("task: x\n")
    git("add", "eval.yaml", cwd=repo)
    git("commit", "-q", "-m", "first", cwd=repo)
    return repo


def record(config=None, **attributes):
    run = RunContext("prov", config or {}, None)
    for name, value in attributes.items():
        setattr(run, name, value)
    recorder = ProvenanceRecorder({})
    recorder.jlce_run_start(run)
    return recorder.jlce_run_end(run)["provenance"]


@needs_git
def test_provenance_holds_the_git_commit_of_the_working_directory(checkout, monkeypatch):
    monkeypatch.chdir(checkout)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=checkout, capture_output=True, text=True, check=True).stdout.strip()
    provenance = record()
    assert provenance["git"]["commit"] == head
    assert provenance["git"]["dirty"] is False
    (checkout / "eval.yaml").write_text("task: changed\n")
    assert record()["git"] == {**provenance["git"], "dirty": True}
    (checkout / "untracked.txt").write_text("new\n")
    (checkout / "eval.yaml").write_text("task: x\n")
    assert record()["git"]["dirty"] is False  # untracked files do not make a checkout dirty


@needs_git
def test_no_git_block_outside_a_checkout(tmp_path, monkeypatch):
    outside = tmp_path / "plain"
    outside.mkdir()
    monkeypatch.chdir(outside)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # never find a checkout above tmp
    assert git_info(outside) is None
    assert record()["git"] is None


def test_provenance_never_contains_secret_values(monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setattr(sys, "argv", ["jlce", "run", "--hf-token", SECRETS["HF_TOKEN"], "--backend-arg", f"api_key={SECRETS['VLLM_API_KEY']}"])
    config = {"seed": 3, "backend_options": {"api_key": SECRETS["OPENAI_API_KEY"], "base_url": "http://localhost:8000/v1"}}
    provenance = record(config)
    text = json.dumps(provenance)
    for value in SECRETS.values():
        assert value not in text
    environment = provenance["environment"]
    assert environment["CUDA_VISIBLE_DEVICES"] == "0,1" and environment["OMP_NUM_THREADS"] == "2"
    assert environment["HF_TOKEN"] == REDACTED and environment["VLLM_API_KEY"] == REDACTED
    assert "MY_SERVICE_SECRET" not in environment  # not a performance variable at all
    assert provenance["config"]["backend_options"] == {"api_key": REDACTED, "base_url": "http://localhost:8000/v1"}
    assert provenance["command"][:3] == ["jlce", "run", "--hf-token"]


def test_run_facts(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["jlce", "run", "--model", "jlce-tiny"])
    provenance = record({"seed": 5, "fewshot_seed": 9, "batch_size": 4})
    assert provenance["jlce_version"] == jlce.__version__
    assert provenance["command"] == ["jlce", "run", "--model", "jlce-tiny"]
    assert provenance["seeds"] == {"seed": 5, "fewshot_seed": 9}
    assert provenance["config"]["batch_size"] == 4
    assert provenance["started_at"] <= provenance["ended_at"]
    assert provenance["software"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert provenance["hardware"]["cpu"]["logical_cores"] >= 1 and provenance["hardware"]["memory_bytes"] > 0
    import importlib.metadata

    assert provenance["software"]["packages"]["pluggy"] == importlib.metadata.version("pluggy")
    assert provenance["model"] is None and provenance["tasks"] == []


def test_task_identity_from_real_tasks():
    from jlce.task import load_tasks

    (task,) = load_tasks("jcommonsenseqa")
    task.build(limit=3, data="fixture")
    info = task_info(task)
    assert (info["name"], info["version"]) == (task.name, task.version)
    assert (info["definition_hash"], info["data_hash"]) == (task.definition_hash, task.data_hash)
    assert info["n_samples"] == 3
    provenance = record(tasks=[task])
    assert provenance["tasks"] == [json.loads(json.dumps(info))]


def test_model_block_from_a_real_backend(tiny_model_dir):
    from jlce.backend import BackendConfig
    from jlce.backends.transformers.backend import TransformersBackend

    backend = TransformersBackend(BackendConfig(model=str(tiny_model_dir), dtype="float32", device="cpu"))
    try:
        provenance = record(backend=backend)
        assert provenance["model"]["fingerprint"] == json.loads(json.dumps(backend.fingerprint()))
        assert provenance["model"]["backend"] == "transformers"
        assert provenance["model"]["kv_bytes_per_token"] == backend.describe()["kv_bytes_per_token"]
        # torch is imported now: its build comes from the module
        assert provenance["software"]["torch"]["source"] == "module"
    finally:
        backend.close()


# ---- jlce.secrets ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["HF_TOKEN", "GITHUB_TOKEN", "OPENAI_API_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID",
                                  "DB_PASSWORD", "GOOGLE_APPLICATION_CREDENTIALS", "api_key", "MY_SECRET", "token"])
def test_secret_names(name):
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["TOKENIZERS_PARALLELISM", "VLLM_MAX_TOKENS", "CUDA_VISIBLE_DEVICES", "HIP_FORCE_DEV_KERNARG",
                                  "LD_LIBRARY_PATH", "eos_token", "pad_token", "max_new_tokens", "PYTORCH_CUDA_ALLOC_CONF"])
def test_not_secret_names(name):
    assert not is_secret_name(name)


@pytest.mark.parametrize("value", list(SECRETS.values())[:3] + [
    "ghp_0123456789abcdefghijABCDEFGHIJ0123", "https://user:pa55word@example.org/repo.git",
    base64.b64encode(hashlib.sha256(b"jlce").digest()).decode(),  # a generated key of no known format
    "xoxb-1234567890-abcdefghij", "AKIAIOSFODNN7EXAMPLE",
])
def test_secret_values(value):
    assert is_secret_value(value)


@pytest.mark.parametrize("value", [
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", "cyberagent/DeepSeek-R1-Distill-Qwen-32B-Japanese",
    "tokyotech-llm/Llama-3.1-Swallow-8B-Instruct-v0.3", "Qwen/Qwen2.5-72B-Instruct-GPTQ-Int4", "SakanaAI/TinySwallow-1.5B-Instruct",
    "nvidia/Llama-3_1-Nemotron-Ultra-253B-v1", "llm-jp/llm-jp-3-13b-instruct", "/home/User/Models/Llama3Instruct8B",
    "/opt/rocm-6.2.0/lib", "expandable_segments:True", "GPU-8f3c2a1b-1234-5678-9abc-def012345678",
    "MIG-GPU-8f3c2a1b-1234-5678-9abc-def012345678/1/0", "8377132a27a2277aa1f4cb4c4f6e477d8402a1b7", "0,1,2,3",
])
def test_ordinary_values(value):
    assert not is_secret_value(value)


def test_redactors():
    environment = {"HF_TOKEN": "x", "OMP_NUM_THREADS": "4", "HOME": "/root", "VLLM_WORKER": SECRETS["HF_TOKEN"]}
    assert redact_env(environment) == {"HF_TOKEN": REDACTED, "OMP_NUM_THREADS": "4", "VLLM_WORKER": REDACTED}
    assert redact_mapping({"a": [{"password": "p"}, "x"], "kv_bytes_per_token": 512, "eos_token": "</s>"}) == \
        {"a": [{"password": REDACTED}, "x"], "kv_bytes_per_token": 512, "eos_token": "</s>"}
    assert redact_args(["--api-key", "k", "--token=t", "model=x", SECRETS["OPENAI_API_KEY"]]) == \
        ["--api-key", REDACTED, f"--token={REDACTED}", "model=x", REDACTED]
