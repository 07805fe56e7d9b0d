"""Repeated sampling end to end: a tiny real model (transformers), a SIGKILL mid-samples, and
generative multiple choice through an OpenAI-compatible server of the test's own that answers
like an R1 model (canned outputs chosen by each request's seed)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from e2e_helpers import REPO, jlce, jlce_env, samples, scores, write_toy_tasks
from json_http import JSONHandler

K = 4


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory) -> Path:
    return write_toy_tasks(tmp_path_factory.mktemp("sampling") / "tasks", n_items=6)


def _run(model, toy_dir, out, cache, **extra):
    from jlce.evaluator import evaluate
    from jlce.runconfig import RunOptions

    options = {"model": str(model), "tasks": "toy_gen", "include_paths": (toy_dir,), "limit": 4, "repeats": K,
               "temperature": 1.0, "top_p": 0.95, "max_new_tokens": 6, "cache_path": cache, "show_progress": False,
               "output_dir": out, **extra}
    return evaluate(RunOptions(**options))


def _texts(run_dir: Path, task: str = "toy_gen") -> list[list[tuple[int, str]]]:
    return [[(s["seed"], s["response"]["raw"]) for s in row["samples"]] for row in samples(run_dir)[task]]


def test_samples_are_fixed_by_seed_across_reruns_batch_sizes_and_k(tmp_path, tiny_model_dir, toy_dir):
    from jlce.cache import RequestCache
    from jlce.sampling import item_seed

    first = _run(tiny_model_dir, toy_dir, tmp_path / "a", tmp_path / "a.sqlite", batch_size=1)
    second = _run(tiny_model_dir, toy_dir, tmp_path / "b", tmp_path / "b.sqlite", batch_size=16)
    texts = _texts(tmp_path / "a")
    assert texts == _texts(tmp_path / "b")  # another batch size, another cache: the same text
    assert first.results["tasks"]["toy_gen"]["metrics"] == second.results["tasks"]["toy_gen"]["metrics"]
    for doc_id, item in enumerate(texts):  # seed of sample j = item seed + j
        base = item_seed(1234, "toy_gen", doc_id)
        assert [seed for seed, _ in item] == [base + j for j in range(K)]
    assert any(len({text for _, text in item}) > 1 for item in texts)  # the samples really differ
    cache = RequestCache(tmp_path / "a.sqlite")
    try:
        assert cache.count() == 4 * K  # each sample stored separately
    finally:
        cache.close()
    # fewer samples from the same cache: all cached, and sample j is the same text
    fewer = _run(tiny_model_dir, toy_dir, tmp_path / "c", tmp_path / "a.sqlite", repeats=2)
    assert fewer.results["cache"]["misses"] == 0
    assert _texts(tmp_path / "c") == [item[:2] for item in texts]
    _validate(first.results)
    entry = first.results["tasks"]["toy_gen"]
    assert entry["sampling"]["repeats"] == K and entry["sampling"]["temperature"] == 1.0
    assert entry["sampling"]["sources"]["repeats"] == "cli"
    assert first.results["config"]["repeats"] == K and first.results["config"]["top_p"] == 0.95
    assert "clustered by item" in entry["metrics"]["exact_match"]["interval_method"]
    # `jlce compare` (and the leaderboard's shared draws) take the per-item mean as the item's score
    from jlce.compare import compare_runs

    (row,) = compare_runs(tmp_path / "a", tmp_path / "c", draws=500, permutations=200).tasks
    assert row.n_items == 4 and row.a == pytest.approx(entry["metrics"]["exact_match"]["value"])
    assert row.b == pytest.approx(fewer.results["tasks"]["toy_gen"]["metrics"]["exact_match"]["value"])
    # the item score is the mean of its samples' scores; pass@k/maj@k are recomputed from them by hand
    rows = samples(tmp_path / "a")["toy_gen"]
    for row in rows:
        per_sample = [s["metrics"]["exact_match"] for s in row["samples"]]
        assert row["metrics"]["exact_match"] == pytest.approx(sum(per_sample) / K)
        assert row["metrics"]["exact_match_pass@4"] == float(any(per_sample))


KILLER = textwrap.dedent("""
    import os, signal, sys
    from jlce.plugin_manager import get_plugin_manager
    from jlce.plugins import hookimpl

    class Killer:
        batches = 0

        @hookimpl
        def jlce_after_batch(self, run, event):
            Killer.batches += 1
            if Killer.batches == 3:  # three batches are committed to the cache: die mid-samples
                os.kill(os.getpid(), signal.SIGKILL)

    get_plugin_manager().register(Killer(), name="killer")
    from jlce.cli.main import main
    sys.argv = ["jlce", *sys.argv[1:]]
    main()
""")


@pytest.mark.slow  # three `jlce` processes
def test_resume_after_sigkill_mid_samples_gives_the_same_samples(tmp_path, tiny_model_dir, toy_dir):
    args = ["run", "--model", str(tiny_model_dir), "--tasks", "toy_gen", "--include-path", str(toy_dir), "--limit", "4",
            "--repeats", str(K), "--temperature", "1.0", "--max-new-tokens", "6", "--batch-size", "2", "-q"]
    reference = jlce(*args, "-o", str(tmp_path / "reference"), env=jlce_env(tmp_path / "ref-cache"))
    assert reference.returncode == 0, reference.stderr
    env = jlce_env(tmp_path / "cache")
    script = tmp_path / "killer.py"
    script.write_text(KILLER, encoding="utf-8")
    killed = subprocess.run([sys.executable, str(script), *args, "-o", str(tmp_path / "run")], env=env, cwd=REPO,
                            capture_output=True, text=True, timeout=600)
    assert killed.returncode == -9, killed.stderr
    assert not (tmp_path / "run" / "results.json").exists()
    resumed = jlce(*args, "-o", str(tmp_path / "run"), env=env)
    assert resumed.returncode == 0, resumed.stderr
    results = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    assert results["cache"]["hits"] == 3 * 2 and results["cache"]["misses"] == 4 * K - 6  # 3 batches of 2 kept
    assert scores(tmp_path / "run") == scores(tmp_path / "reference")
    assert _texts(tmp_path / "run") == _texts(tmp_path / "reference")


# ---- generative multiple choice through an OpenAI-compatible server ---------------------------

MODEL = "deepseek-r1-distill-tiny"  # reasoning auto-detection marks it: the deepseek-r1 preset applies
THINK = "<think>\n選択肢を順に検討する。{}\n</think>\n\n{}"
# item -> the 4 answers after the reasoning; toy_mc's gold is item % 3, labels are 1, 2, 3
CANNED = {
    0: [THINK.format("1が正しい", "1"), THINK.format("2か", "2"), THINK.format("", "答え：1"), "<think>\nまだ考えている途中で"],
    1: [THINK.format("", "3"), THINK.format("", "(3)"), THINK.format("", "2. 正解は2"), THINK.format("", "3です")],
    2: [THINK.format("", "3"), THINK.format("", "3"), THINK.format("", "**3**"), THINK.format("", "3")],
}


class R1API(JSONHandler):
    """/models and /chat/completions of the OpenAI protocol; the answer depends on the item (read from
    the prompt) and the sample (the request's seed minus the item's seed)."""

    bodies: ClassVar[list] = []

    def do_GET(self):
        self._send(200, {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "test", "max_model_len": 4096}]})

    def do_POST(self):
        from jlce.sampling import item_seed

        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).bodies.append(body)
        if not self.path.endswith("/chat/completions"):
            self._send(404, {"error": {"message": "only chat completions here"}})
            return
        item = int(re.search(r"の(\d+)番目", body["messages"][-1]["content"]).group(1))
        j = body["seed"] - item_seed(1234, "toy_mc", item)
        text = CANNED[item][j]
        finish = "stop" if "</think>" in text else "length"
        self._send(200, {"id": "x", "object": "chat.completion", "model": MODEL, "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 40, "total_tokens": 50}})


def _validate(results: dict) -> None:
    import jsonschema
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    schema = json.loads((REPO / "docs" / "results.schema.json").read_text(encoding="utf-8"))
    profiling = json.loads((REPO / "docs" / "profiling.schema.json").read_text(encoding="utf-8"))
    base = schema["$id"].rsplit("/", 1)[0]
    registry = Registry().with_resource(f"{base}/profiling.schema.json", DRAFT202012.create_resource(profiling))
    jsonschema.Draft202012Validator(schema, registry=registry).validate(results)


@pytest.fixture()
def r1_server(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), R1API)
    R1API.bodies = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-r1")
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_generative_multiple_choice_pass_at_k_and_maj_at_k_by_hand(tmp_path, toy_dir, r1_server):
    env = jlce_env(tmp_path / "cache")
    result = jlce("run", "--model", MODEL, "--backend", "openai", "--backend-arg", f"base_url={r1_server}",
                  "--tasks", "toy_mc", "--include-path", str(toy_dir), "--limit", "3", "-o", str(tmp_path / "run"), env=env)
    assert result.returncode == 0, result.stderr
    # the preset and the generative mode were announced before the model loaded
    assert "preset 'deepseek-r1'" in result.stderr and "temperature=0.6" in result.stderr
    assert "multiple choice asked generatively" in result.stderr and "toy_mc" in result.stderr
    results = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    _validate(results)
    assert results["preset"]["name"] == "deepseek-r1"
    assert results["preset"]["settings"]["temperature"] == 0.6 and results["preset"]["settings"]["top_p"] == 0.95
    entry = results["tasks"]["toy_mc"]
    assert entry["sampling"]["mc_mode"] == "generate" and entry["sampling"]["sources"]["mc_mode"] == "preset"
    assert entry["sampling"]["repeats"] == 4
    m = entry["metrics"]
    # correct per sample: item 0 [1,0,1,0], item 1 [0,0,1,0], item 2 [1,1,1,1]
    assert m["acc"]["value"] == pytest.approx((2 / 4 + 1 / 4 + 1) / 3)
    assert m["acc_pass@2"]["value"] == pytest.approx((5 / 6 + 1 / 2 + 1) / 3)  # 1 - C(k-c,2)/C(4,2)
    assert m["acc_pass@4"]["value"] == pytest.approx(1.0)
    assert m["acc_maj@4"]["value"] == pytest.approx(2 / 3)  # votes: 1 (2 of 3 parsed), 3 (3 of 4), 3
    assert entry["sampling"]["agreement"]["mean"] == pytest.approx((2 / 4 + 3 / 4 + 4 / 4) / 3)
    assert entry["sampling"]["unparseable"] == {"samples": 1, "of": 12, "note": "an answer naming no single choice counts as wrong"}
    rows = samples(tmp_path / "run")["toy_mc"]
    assert [s["pred_index"] for s in rows[0]["samples"]] == [0, 1, 0, -1]
    assert [s["pred_index"] for s in rows[1]["samples"]] == [2, 2, 1, 2]
    # what went over the wire: one user turn (no system prompt), DeepSeek's sampling, the choices listed
    chats = [b for b in R1API.bodies if "messages" in b]  # (the backend's echo probe is not a chat)
    assert len(chats) == 12
    body = chats[0]
    assert [msg["role"] for msg in body["messages"]] == ["user"]
    assert body["temperature"] == 0.6 and body["top_p"] == 0.95
    assert body["max_tokens"] == 32768  # the preset's budget, thinking included (no window known here)
    assert "選択肢：\n1. " in body["messages"][0]["content"]
    # a second run is served from the cache, sample by sample
    again = jlce("run", "--model", MODEL, "--backend", "openai", "--backend-arg", f"base_url={r1_server}",
                 "--tasks", "toy_mc", "--include-path", str(toy_dir), "--limit", "3", "-o", str(tmp_path / "run2"), env=env)
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "run2" / "results.json").read_text(encoding="utf-8"))["cache"]["misses"] == 0
    assert len([b for b in R1API.bodies if "messages" in b]) == 12
    # --max-new-tokens is the budget of a reasoning model too, and --repeats overrides the preset's k
    capped = jlce("run", "--model", MODEL, "--backend", "openai", "--backend-arg", f"base_url={r1_server}",
                  "--tasks", "toy_mc", "--include-path", str(toy_dir), "--limit", "1", "--max-new-tokens", "300",
                  "--repeats", "2", "-o", str(tmp_path / "run3"), env=env)
    assert capped.returncode == 0, capped.stderr
    sent = [b for b in R1API.bodies if "messages" in b][12:]
    assert len(sent) == 2 and {b["max_tokens"] for b in sent} == {300}


def test_presets_are_chosen_overridden_and_registrable(tmp_path, toy_dir):
    from jlce import registry
    from jlce.errors import UserError
    from jlce.plugin_manager import get_plugin_manager
    from jlce.plugins import hookimpl
    from jlce.presets import PresetSpec, choose_preset
    from jlce.runconfig import RunOptions
    from jlce.sampling import Overrides, task_sampling
    from jlce.task import load_tasks

    presets = registry.get_registry().presets
    assert choose_preset(presets, "auto", "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B").name == "deepseek-r1"
    assert choose_preset(presets, "auto", "deepseek-r1-distill-qwen-32b").name == "deepseek-r1"
    assert choose_preset(presets, "auto", "Qwen/QwQ-32B").name == "deepseek-r1"
    assert choose_preset(presets, "auto", "llm-jp/llm-jp-3-13b") is None
    assert choose_preset(presets, "none", "deepseek-r1-distill-qwen-32b") is None
    with pytest.raises(UserError, match="unknown preset 'deepseek-r2'.*did you mean 'deepseek-r1'"):
        choose_preset(presets, "deepseek-r2", "m")

    (task,) = load_tasks("toy_gen", (toy_dir,))
    preset = presets["deepseek-r1"]
    options = RunOptions(model="deepseek-r1-distill-qwen-32b", tasks="toy_gen", temperature=0.3)
    s = task_sampling(task, options, preset)
    assert (s.temperature, s.top_p, s.repeats, s.max_new_tokens) == (0.3, 0.95, 4, 32768)
    assert dict(s.sources)["temperature"] == "cli" and dict(s.sources)["top_p"] == "preset"
    assert task_sampling(task, RunOptions(model="m", tasks="toy_gen"), None).repeats == 1

    class FamilyPlugin:
        @hookimpl
        def jlce_register_presets(self, register):
            register(PresetSpec(name="tiny-family", match=lambda model: "tiny" in model, priority=10,
                                settings=Overrides(temperature=0.7, repeats=2)))

    pm = get_plugin_manager()
    plugin = FamilyPlugin()
    pm.register(plugin, name="family-presets")
    registry.reset_registry()
    try:
        chosen = choose_preset(registry.get_registry().presets, "auto", "r1-tiny")
        assert chosen.name == "tiny-family" and chosen.plugin == "family-presets"  # priority 10 beats the built-in
        assert chosen.record()["settings"] == {"temperature": 0.7, "repeats": 2}
    finally:
        pm.unregister(plugin)
        registry.reset_registry()


def test_cli_lists_presets_and_refuses_bad_sampling_input(tmp_path, toy_dir):
    env = jlce_env(tmp_path / "cache")
    listed = jlce("ls", "presets", env=env)
    assert listed.returncode == 0 and "deepseek-r1" in listed.stdout and "temperature=0.6" in listed.stdout
    bad = jlce("run", "--model", "m", "--tasks", "toy_gen", "--include-path", str(toy_dir), "--preset", "deepseek", env=env)
    assert bad.returncode == 2 and "unknown preset 'deepseek'" in bad.stderr and "Traceback" not in bad.stderr
    bad = jlce("run", "--model", "m", "--tasks", "toy_gen", "--include-path", str(toy_dir), "--top-p", "0", env=env)
    assert bad.returncode == 2 and "--top-p" in bad.stderr
    typo = tmp_path / "typo"
    typo.mkdir()
    text = (toy_dir / "toy_gen.yaml").read_text(encoding="utf-8").replace("  max_new_tokens: 6\n", "  max_new_tokens: 6\n  repeat: 4\n")
    (typo / "toy_gen.yaml").write_text(text.replace("task: toy_gen", "task: toy_typo"), encoding="utf-8")
    (typo / "toy.jsonl").write_bytes((toy_dir / "toy.jsonl").read_bytes())
    shown = jlce("show", "task", "toy_typo", "--include-path", str(typo), env=env)
    assert shown.returncode == 2 and "repeat" in shown.stderr and "repeats" in shown.stderr, shown.stderr


def test_transformers_prefills_an_items_prompt_once_and_samples_match_one_by_one(tiny_model_dir):
    """k samples of items sharing a few-shot prefix: in one batch (the prompt prefilled once per
    item, its cache rows repeated) each sample equals the same request decoded alone."""
    from jlce.backend import BackendConfig
    from jlce.backends.transformers.backend import TransformersBackend
    from jlce.requests import GenerateRequest, GenerationParams
    from jlce.sampling import item_seed

    prefix = "次の質問に答えてください。\n質問：日本の首都は？\n答え：東京\n\n質問：富士山がある県は？\n答え：静岡県と山梨県\n\n"
    questions = ["質問：琵琶湖がある県は？\n答え：", "質問：北海道の県庁所在地は？\n答え：", "質問：四国の県の数は？\n答え："]
    requests = [GenerateRequest(prefix + q, GenerationParams(max_new_tokens=8, temperature=0.9, top_p=0.95,
                                                             seed=item_seed(1234, "t", i) + j))
                for i, q in enumerate(questions) for j in range(3)]

    def texts(batch_size):
        backend = TransformersBackend(BackendConfig(model=str(tiny_model_dir), dtype="float32", batch_size=batch_size))
        try:
            answers, prompt_tokens = {}, 0
            for pairs, event in backend.generate_until(requests):
                answers.update(pairs)
                prompt_tokens += event.prompt_tokens
            return [answers[i].text for i in range(len(requests))], prompt_tokens
        finally:
            backend.close()

    together, computed = texts(16)
    alone, computed_alone = texts(1)
    assert together == alone
    assert len(set(together[:3])) > 1  # an item's samples differ
    assert computed < computed_alone  # equal prompts were computed once in the big batch
