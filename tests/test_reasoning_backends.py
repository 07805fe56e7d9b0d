"""Reasoning models through every backend, end to end (`evaluate`): realistic R1 outputs (closed,
truncated inside <think>, nested, blank-line answer, none, lone </think>, upper case) from an
OpenAI-compatible server of our own on 127.0.0.1 (completions; chat with and without vLLM's R1
reasoning parser), and the transformers backend on a tiny real model whose chat template opens
<think> as R1's does. The vLLM engine's part is in tests/test_vllm_backend.py."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from jlce.reasoning import truncate_answer
from jlce.requests import GenerateRequest, GenerationParams
from json_http import JSONHandler

R1_MODEL = "deepseek-r1-distill-qwen-7b"

# JSQuAD's fixture questions -> what an R1 distill writes (text, finish reason, completion tokens).
CANNED = {
    "日本で最も長い川は何か。": ("<think>\n文章に「日本で最も長い川」とある。\n\nつまり信濃川。\n</think>\n\n信濃川\n\n補足：全長367km。", "stop", 120),
    "信濃川の全長は何キロメートルか。": ("<think>\n全長を探す。\n\n367キロメートルと書いてあるが、単位を確かめ", "length", 4096),
    "信濃川は長野県内では何と呼ばれているか。": ("<think>\nまず考える。<think>内側：千曲川か？</think>\n\nそう、千曲川。\n</think>\n\n千曲川\n\n次", "stop", 40),
    "金閣寺の正式名称は何か。": ("\n\n鹿苑寺\n\n以上です。", "stop", 8),
    "金閣寺のもととなる山荘を造営したのは誰か。": ("文章によると足利義満。\n\n念のため確認した。\n</think>\n\n足利義満\n\n", "stop", 25),
    "金閣寺が世界遺産に登録されたのは何年か。": ("<THINK>\n1994年とある。\n\n</THINK>\n\n1994年\n\nほか", "stop", 20),
    "富士山の標高は何メートルか。": ("<think>\n3776メートル。\n</think>3776メートル", "stop", 12),
    "富士山の最後の噴火は何と呼ばれるか。": ("<think>\n\n</think>\n\n宝永大噴火\n\n", "stop", 9),
}
# What JSQuAD's filters (strip_think, first_line, strip) read, by API (vLLM's R1 parser knows
# only lower-case tags and calls a response without </think> reasoning: no content).
EXPECTED = {"信濃川", "", "千曲川", "鹿苑寺", "足利義満", "1994年", "3776メートル", "宝永大噴火"}
LOST_BY_THE_PARSER = {"金閣寺の正式名称は何か。", "金閣寺が世界遺産に登録されたのは何年か。"}


def vllm_r1_parser(text: str) -> tuple[str, str | None]:
    """vLLM's DeepSeekR1ReasoningParser.extract_reasoning_content (non-streaming)."""
    start, end = "<think>", "</think>"
    parts = text.partition(start)
    text = parts[2] if parts[1] else parts[0]
    if end not in text:
        return text, None
    reasoning, _, content = text.partition(end)
    return reasoning, content or None


class R1Server(JSONHandler):
    """/v1/models, /v1/completions and /v1/chat/completions as vLLM answers them."""

    parser: ClassVar[bool] = False
    seen: ClassVar[list] = []

    def do_GET(self):
        if self.path.endswith("/models"):
            self._send(200, {"object": "list", "data": [{"id": R1_MODEL, "object": "model", "owned_by": "vllm",
                                                         "root": f"deepseek-ai/{R1_MODEL}", "max_model_len": 32768}]})
        else:
            self._send(404, {"error": {"message": "not found"}})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body.get("echo"):
            self._send(400, {"error": {"message": "echo is not supported"}})
            return
        self.seen.append((self.path, body))
        chat = self.path.endswith("/chat/completions")
        prompt = body["messages"][-1]["content"] if chat else body["prompt"]
        question = prompt.rsplit("質問：", 1)[1].split("\n", 1)[0]
        text, finish, tokens = CANNED[question]
        usage = {"prompt_tokens": len(prompt), "completion_tokens": tokens, "total_tokens": len(prompt) + tokens}
        if not chat:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
            self._send(200, {"id": "cmpl-1", "object": "text_completion", "model": R1_MODEL, "choices": [choice], "usage": usage})
            return
        message = {"role": "assistant", "content": text, "reasoning_content": None}
        if self.parser:
            reasoning, content = vllm_r1_parser(text)
            message = {"role": "assistant", "content": content, "reasoning_content": reasoning}
        choice = {"index": 0, "message": message, "finish_reason": finish}
        self._send(200, {"id": "chatcmpl-1", "object": "chat.completion", "model": R1_MODEL, "choices": [choice], "usage": usage})


@pytest.fixture()
def r1_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), R1Server)
    R1Server.seen, R1Server.parser = [], False
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def _evaluate(tmp_path: Path, **options):
    from jlce.evaluator import evaluate
    from jlce.runconfig import RunOptions

    settings = {"use_cache": False, "show_progress": False, "output_dir": tmp_path / "run", "profile": ("provenance",),
                "data": "fixture", **options}
    if "preset" in RunOptions.model_fields:  # decoding presets (a reasoning model's sampling) are not under test here
        settings["preset"] = "none"
    results = evaluate(RunOptions(**settings)).results
    task = next(iter(results["tasks"]))
    rows = [json.loads(line) for line in (tmp_path / "run" / "samples" / f"{task}.jsonl").read_text(encoding="utf-8").splitlines()]
    return results, rows


def _question(row) -> str:
    return row["prompt"].rsplit("質問：", 1)[1].split("\n", 1)[0]


@pytest.mark.parametrize("api", ["completions", "chat", "chat+parser"])
def test_r1_outputs_through_the_openai_backend(r1_server, tmp_path, api, capsys):
    R1Server.parser = api == "chat+parser"
    results, rows = _evaluate(tmp_path, model=R1_MODEL, backend="openai", tasks="jsquad",
                              backend_options={"base_url": r1_server, "api": api.split("+")[0]})
    assert results["reasoning"]["enabled"] and R1_MODEL in results["reasoning"]["detected_from"]
    # the task's own reasoning budget went out, and no stop sequence (it would end the thinking)
    bodies = [body for _, body in R1Server.seen]
    assert len(bodies) == 8 and all(b["max_tokens"] == 4096 and "stop" not in b for b in bodies)
    assert all(path.endswith("/chat/completions" if api != "completions" else "/completions") for path, _ in R1Server.seen)
    lost = LOST_BY_THE_PARSER if R1Server.parser else set()
    for row in rows:
        question = _question(row)
        text, finish, tokens = CANNED[question]
        gold = row["target"] if question not in lost and finish == "stop" else ""
        assert row["response"]["filtered"] == gold, (api, question, row["response"])
        assert row["metrics"]["exact_match"] == (1.0 if gold else 0.0)
        assert row["generated_tokens"] == tokens and row["reasoning"]["opened_by_prompt"] is False
        if not R1Server.parser:
            assert row["response"]["raw"] == truncate_answer(text, ["\n\n"])[0]  # the full text, the answer cut
        assert row["finish_reason"] == ("length" if finish == "length" else "stop")
    by_question = {_question(row): row for row in rows}
    truncated = by_question["信濃川の全長は何キロメートルか。"]
    assert truncated["reasoning"]["state"] == "unclosed" and truncated["reasoning"]["budget_hit_in_think"] is True
    assert truncated["reasoning"]["thinking_tokens"] == 4096 and truncated["reasoning"]["answer_tokens"] == 0
    assert by_question["富士山の最後の噴火は何と呼ばれるか。"]["reasoning"]["state"] == "closed"
    cost = results["tasks"]["jsquad"]["reasoning"]
    assert cost["outputs"] == 8 and cost["budget_hit_in_think"] == 1 and cost["budget_hit_in_think_share"] == 1 / 8
    correct = 8 - 1 - len(lost)
    assert results["tasks"]["jsquad"]["metrics"]["exact_match"]["value"] == pytest.approx(correct / 8)
    if api == "completions":
        import jsonschema
        from referencing import Registry
        from referencing.jsonschema import DRAFT202012

        docs = Path(__file__).resolve().parents[1] / "docs"
        schema = json.loads((docs / "results.schema.json").read_text(encoding="utf-8"))
        profiling = json.loads((docs / "profiling.schema.json").read_text(encoding="utf-8"))
        base = schema["$id"].rsplit("/", 1)[0]
        registry = Registry().with_resource(f"{base}/profiling.schema.json", DRAFT202012.create_resource(profiling))
        jsonschema.Draft202012Validator(schema, registry=registry).validate(results)
        assert (cost["closed"], cost["unclosed"], cost["no_reasoning"]) == (6, 1, 1)
        from jlce.cli.run_command import print_summary

        print_summary(results, tmp_path / "run")
        shown = capsys.readouterr().out
        assert "What thinking cost" in shown and "12.5%" in shown and "detected from deepseek-r1-distill-qwen-7b" in shown
        # no local tokenizer: the closed ones' thinking tokens are unknown, not guessed
        assert cost["tokens_counted"] == 2 and cost["thinking_tokens"]["total"] == 4096


def test_thinking_tokens_counted_with_a_local_tokenizer(r1_server, tmp_path, tiny_model_dir):
    from transformers import AutoTokenizer

    results, rows = _evaluate(tmp_path, model=R1_MODEL, backend="openai", tasks="jsquad",
                              backend_options={"base_url": r1_server, "api": "completions", "tokenizer": "none"})
    assert results["tasks"]["jsquad"]["reasoning"]["tokens_counted"] == 2
    results, rows = _evaluate(tmp_path / "again", model=R1_MODEL, backend="openai", tasks="jsquad", limit=1,
                              backend_options={"base_url": r1_server, "api": "chat", "tokenizer": str(tiny_model_dir)})
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    text = CANNED["日本で最も長い川は何か。"][0]
    region = text[: text.index("</think>") + len("</think>")]
    thinking = len(tokenizer(region, add_special_tokens=False)["input_ids"])
    assert rows[0]["reasoning"]["thinking_tokens"] == thinking and rows[0]["reasoning"]["answer_tokens"] == 120 - thinking
    cost = results["tasks"]["jsquad"]["reasoning"]
    assert cost["thinking_tokens"] == {"mean": thinking, "median": thinking, "total": thinking}


def test_reasoning_off_keeps_the_servers_stops(r1_server, tmp_path):
    results, rows = _evaluate(tmp_path, model=R1_MODEL, backend="openai", tasks="jsquad", limit=2, reasoning="off",
                              backend_options={"base_url": r1_server})
    assert results["reasoning"]["enabled"] is False and "reasoning" not in results["tasks"]["jsquad"]
    assert all(b["stop"] == ["\n\n"] and b["max_tokens"] == 64 for _, b in R1Server.seen)
    assert all("reasoning" not in row and row["finish_reason"] in ("stop", "length") for row in rows)


# ---- the transformers backend on a tiny real model ---------------------------------------------

GEN_TASK = """\
task: r1_gen
version: "1"
category: generation
license: CC0-1.0
dataset:
  format: jsonl
  files:
    test:
      - path: items.jsonl
        sha256: {sha}
eval_split: test
output_type: generate_until
prompt: "{{{{ q }}}}："
target: "{{{{ a }}}}"
generation:
  until: {until}
  max_new_tokens: 4
  reasoning_max_new_tokens: 12
filters:
  - name: strip_think
  - name: strip
metrics:
  - name: exact_match
"""
QUESTIONS = [{"q": "日本で一番高い山は", "a": "富士山"}, {"q": "吾輩は", "a": "猫である"}, {"q": "春はあけぼの", "a": "夏は夜"}]


def _gen_task(directory: Path, until: list[str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(q, ensure_ascii=False) + "\n" for q in QUESTIONS)
    (directory / "items.jsonl").write_text(data, encoding="utf-8")
    sha = hashlib.sha256(data.encode()).hexdigest()
    (directory / "r1_gen.yaml").write_text(GEN_TASK.format(sha=sha, until=json.dumps(until, ensure_ascii=False)), encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def r1_tiny_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny model under an R1 distill's name, with a chat template that opens <think>."""
    target = tmp_path_factory.mktemp("models") / "tiny-r1-distill"
    shutil.copytree(tiny_model_dir, target)
    template = target / "chat_template.jinja"
    template.write_text(template.read_text(encoding="utf-8").replace("<|assistant|>\n", "<|assistant|>\n<think>\n"),
                        encoding="utf-8")
    return target


def _reference(model_dir: Path, prompts: list[str], budget: int) -> list:
    """What the model writes with no stop at all, by the same backend class."""
    from jlce.backend import BackendConfig
    from jlce.backends.transformers.backend import TransformersBackend

    backend = TransformersBackend(BackendConfig(model=str(model_dir), dtype="float32"))
    try:
        answers = {}
        for pairs, _ in backend.generate_until([GenerateRequest(p, GenerationParams(max_new_tokens=budget)) for p in prompts]):
            answers.update(pairs)
        return [answers[i] for i in range(len(prompts))]
    finally:
        backend.close()


def test_transformers_backend_thinks_inside_a_template_opened_block(r1_tiny_dir, tmp_path):
    prompts = [f"{q['q']}：" for q in QUESTIONS]
    reference = _reference(r1_tiny_dir, prompts, 12)
    assert all(r.opened_think and "</think>" not in r.text for r in reference)
    # a stop the model writes inside its reasoning: with reasoning on it must not end the thinking
    stop = next(r.text[2:4] for r in reference if len(r.text) >= 4)
    tasks = _gen_task(tmp_path / "tasks", [stop])
    results, rows = _evaluate(tmp_path, model=str(r1_tiny_dir), tasks="r1_gen", include_paths=(tasks,), data="auto")
    assert results["reasoning"]["enabled"] and results["reasoning"]["detected_from"] == [str(r1_tiny_dir)]
    assert results["model"]["fingerprint"]["chat_template"] is True
    for row, ref in zip(rows, reference):
        # generated to the task's reasoning budget (12, not its 4 tokens), uncut: all of it is reasoning
        assert row["response"]["raw"] == ref.text and row["generated_tokens"] == ref.n_tokens
        assert row["response"]["filtered"] == "" and row["metrics"]["exact_match"] == 0.0
        assert row["reasoning"]["state"] == "unclosed" and row["reasoning"]["opened_by_prompt"] is True
        assert row["reasoning"]["budget_hit_in_think"] is (ref.finish_reason == "length")
    cost = results["tasks"]["r1_gen"]["reasoning"]
    assert cost["unclosed"] == 3 and cost["budget_hit_in_think"] == sum(r.finish_reason == "length" for r in reference)
    assert cost["thinking_tokens"]["total"] == sum(r.n_tokens for r in reference)


def test_transformers_backend_applies_stops_to_the_answer_only(tiny_model_dir, tmp_path):
    """A model that does not think, run with the backends' former argument: the stop applies to the
    answer after its leading whitespace, on text generated to the reasoning budget."""
    prompts = [f"{q['q']}：" for q in QUESTIONS]
    reference = _reference(tiny_model_dir, prompts, 12)
    stop = next(r.text.lstrip()[3:5] for r in reference if len(r.text.lstrip()) >= 5)
    tasks = _gen_task(tmp_path / "tasks", [stop])
    results, rows = _evaluate(tmp_path, model=str(tiny_model_dir), tasks="r1_gen", include_paths=(tasks,), data="auto",
                              backend_options={"reasoning": "true"})
    assert results["reasoning"]["mode"] == "on" and results["config"]["reasoning"] == "on"
    assert results["config"]["backend_options"] == {}
    for row, ref in zip(rows, reference):
        expected, stopped = truncate_answer(ref.text, [stop])
        assert row["response"]["raw"] == expected and row["response"]["filtered"] == expected.strip()
        assert row["finish_reason"] == ("stop" if stopped else ref.finish_reason)
        assert row["reasoning"]["state"] == "none" and row["reasoning"]["thinking_tokens"] == 0
        assert row["reasoning"]["answer_tokens"] == ref.n_tokens == row["generated_tokens"]
    assert any(truncate_answer(r.text, [stop])[1] for r in reference)  # the stop did cut something
