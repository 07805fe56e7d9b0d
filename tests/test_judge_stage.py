"""The judge stage of `jlce run` (jlce.judge.stage) against a judge server of the tests' own on
127.0.0.1 that speaks the OpenAI chat protocol and returns fixed judgments, so aggregation is
checked exactly; the answers come from the dummy backend on japanese_mt_bench's fixture questions.
The pinned FastChat judge prompts and reference answers are registered from ../shared/data."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, ClassVar

import pytest

from json_http import JSONHandler

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "japanese-mt-bench"
TASK_FILE = ROOT / "tasks" / "japanese_mt_bench" / "japanese_mt_bench.yaml"
pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data/japanese-mt-bench is absent")

# fixture questions: f1 writing, f2 math (judged against a reference), f3 humanities
QUESTION_MARK = {"f1": "京都の秋", "f2": "りんごが3個", "f3": "俳句とは"}
JA_SYSTEM = "あなたは有益な助手です。"  # turn 1 (judge_ja_prompts.jsonl); turn 2 prompts are FastChat's English ones


@pytest.fixture(scope="module", autouse=True)
def pinned_judge_files():
    """The task's pinned judge files, registered (sha256-checked) in the tests' private data directory."""
    from jlce.data import store
    from jlce.taskload import load_task_config

    judge = load_task_config(TASK_FILE)[0].judge
    store.add_local(SHARED / "judge_ja_prompts.jsonl", judge.sources["ja"])
    store.add_local(SHARED / "judge_prompts.jsonl", judge.sources["en"])
    store.add_local(SHARED / "reference_answer" / "gpt-4.jsonl", judge.references)


class JudgeAPI(JSONHandler):
    """GET /v1/models and POST /v1/chat/completions; `reply(messages, body)` decides each judgment."""

    served: ClassVar[str] = "judge-a"
    reply: ClassVar[Callable[[list[dict[str, str]], dict[str, Any]], str]] = staticmethod(lambda m, b: "[[5]]")
    calls: ClassVar[list[dict[str, Any]]] = []
    fail_after: ClassVar[int | None] = None  # refuse every judgment after this many (a judge gone bad mid-run)

    def do_GET(self):
        self._send(200, {"data": [{"id": type(self).served, "owned_by": "test"}]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if not self.path.endswith("/chat/completions"):
            self._send(404, {"error": {"message": "chat only"}})
            return
        if type(self).fail_after is not None and len(type(self).calls) >= type(self).fail_after:
            self._send(400, {"error": {"message": "judge unavailable"}})
            return
        type(self).calls.append(body)
        text = type(self).reply(body["messages"], body)
        self._send(200, {"choices": [{"message": {"content": text}, "finish_reason": "stop"}],
                         "usage": {"completion_tokens": len(text)}})


@pytest.fixture()
def judge_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), JudgeAPI)
    JudgeAPI.calls, JudgeAPI.served, JudgeAPI.fail_after = [], "judge-a", None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def _question(messages: list[dict[str, str]]) -> str:
    user = messages[-1]["content"]
    return next(q for q, mark in QUESTION_MARK.items() if mark in user)


def _turn(messages: list[dict[str, str]]) -> int:
    return 1 if messages[0]["role"] == "system" and messages[0]["content"] == JA_SYSTEM else 2


def scripted(messages, body):
    """f1: 8 and 6; f2: 4, then turn 2 never parseable; f3: an R1-style judge (7), then turn 2
    unparseable until the retry (9)."""
    question, turn = _question(messages), _turn(messages)
    retry = body.get("temperature", 0) > 0
    if question == "f1":
        return "簡潔で正確です。評価：[[8]]" if turn == 1 else "Good follow-up. Rating: [[6]]"
    if question == "f2":
        return "参考回答と一致します。評価：[[4]]" if turn == 1 else "I cannot decide."
    if turn == 1:
        return "<think>\nまず [[2]] かと思ったが、よく読むと良い。\n</think>\n\n[[評価]]: 7"
    return "Rating: [[9]]" if retry else "Rating: nine"


def _check_schema(results: dict[str, Any]) -> None:
    import jsonschema
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    docs = ROOT / "docs"
    schema = json.loads((docs / "results.schema.json").read_text(encoding="utf-8"))
    profiling = json.loads((docs / "profiling.schema.json").read_text(encoding="utf-8"))
    registry = Registry().with_resource(schema["$id"].rsplit("/", 1)[0] + "/profiling.schema.json",
                                        DRAFT202012.create_resource(profiling))
    jsonschema.Draft202012Validator(schema, registry=registry).validate(results)


def run(tmp_path: Path, url: str, *, name: str = "run", cache: Path | None = None, judge_args: dict | None = None,
        **extra: Any):
    from jlce.evaluator import evaluate
    from jlce.runconfig import RunOptions

    options = RunOptions(model="answerer", backend="dummy", backend_options={"reply": "answer {turn}"},
                         tasks="japanese_mt_bench", data="fixture", judge_model=extra.pop("judge_model", "judge-a"),
                         judge_backend="openai", judge_backend_options={"base_url": url, "backoff": "0.05", **(judge_args or {})},
                         output_dir=tmp_path / name, cache_path=cache or tmp_path / "cache.sqlite", show_progress=False,
                         **extra)
    outcome = evaluate(options)
    rows = [json.loads(line) for line in (outcome.output_dir / "samples" / "japanese_mt_bench.jsonl").read_text().splitlines()]
    return outcome.results, rows


def test_known_ratings_give_known_scores_retry_once_and_count_failures(judge_server, tmp_path):
    JudgeAPI.reply = staticmethod(scripted)
    results, rows = run(tmp_path, judge_server)
    metric = results["tasks"]["japanese_mt_bench"]["metrics"]["judge_score"]
    # items: f1 (8+6)/2 = 7, f2 4 (turn 2 unparseable), f3 (7+9)/2 = 8
    assert metric["value"] == pytest.approx((7 + 4 + 8) / 3)
    assert metric["row_mean"] == pytest.approx((8 + 6 + 4 + 7 + 9) / 5)
    assert metric["parse_failures"] == 1 and metric["judgments"] == 6 and metric["turns_without_prompt"] == 0
    assert metric["parse_failure_share"] == pytest.approx(1 / 6)
    assert metric["by_turn"]["1"]["value"] == pytest.approx((8 + 4 + 7) / 3)
    assert metric["by_turn"]["2"]["value"] == pytest.approx((6 + 9) / 2)
    assert metric["by_category"]["math"]["value"] == 4.0 and metric["by_category"]["humanities"]["value"] == 8.0
    lo, hi = metric["ci95"]
    assert 4.0 <= lo < metric["value"] < hi <= 8.0  # over 3 questions the interval is wide
    assert results["tasks"]["japanese_mt_bench"]["primary_metric"] == "judge_score"
    # 6 judgments asked, 2 unparseable asked once more (another seed, sampled), one still failing
    assert len(JudgeAPI.calls) == 8
    retries = [c for c in JudgeAPI.calls if c["temperature"] > 0]
    assert len(retries) == 2 and {c["seed"] for c in retries} == {1235} and all(c["temperature"] == 0.7 for c in retries)
    assert all(c["temperature"] == 0.0 and c.get("seed") != 1235 for c in JudgeAPI.calls if c not in retries)
    by_id = {row["question_id"]: row for row in rows}
    assert [row["metrics"]["judge_score"] for row in rows] == [7.0, 4.0, 8.0]
    f2_turn2 = by_id["f2"]["judgments"][1]
    assert f2_turn2["parse_failed"] and f2_turn2["rating"] is None and len(f2_turn2["attempts"]) == 2
    assert [a["seed"] for a in f2_turn2["attempts"]] == [None, 1235]
    f3 = by_id["f3"]["judgments"]
    assert f3[0]["rating"] == 7.0 and f3[0]["judgment"].startswith("<think>")  # thinking stripped, raw text kept
    assert f3[1]["rating"] == 9.0 and [a["parsed"] for a in f3[1]["attempts"]] == [None, 9.0]
    # the prompt recorded per sample: the Japanese prompt with the reference for math turn 1
    f2_turn1 = by_id["f2"]["judgments"][0]
    assert f2_turn1["prompt_name"] == "single-math-v1" and "[参考回答の開始]" in f2_turn1["prompt"]
    assert "りんご3個とみかん5個で" in f2_turn1["prompt"] and f2_turn1["system_prompt"] == JA_SYSTEM
    assert by_id["f1"]["judgments"][1]["prompt_name"] == "single-v1-multi-turn"
    judge = results["judge"]
    assert judge["model"] == "judge-a" and judge["backend"] == "openai" and judge["calls"] == 8
    _check_schema(results)
    assert judge["retried"] == 2 and judge["parse_failures"] == 1
    assert judge["fingerprint_hash"] != results["model"]["fingerprint_hash"]


def test_second_run_asks_nothing_and_another_judge_recomputes(judge_server, tmp_path):
    JudgeAPI.reply = staticmethod(scripted)
    first, _ = run(tmp_path, judge_server, name="one")
    assert len(JudgeAPI.calls) == 8
    again, _ = run(tmp_path, judge_server, name="two")
    assert len(JudgeAPI.calls) == 8  # every judgment from the cache
    assert again["judge"]["cache_hits"] == 8 and again["judge"]["calls"] == 0
    assert again["tasks"]["japanese_mt_bench"]["metrics"]["judge_score"]["value"] == \
        first["tasks"]["japanese_mt_bench"]["metrics"]["judge_score"]["value"]
    JudgeAPI.served = "judge-b"  # another judge model: another fingerprint, nothing reused
    other, _ = run(tmp_path, judge_server, name="three", judge_model="judge-b")
    assert len(JudgeAPI.calls) == 16 and other["judge"]["cache_hits"] == 0
    assert other["judge"]["cache_namespace"] != first["judge"]["cache_namespace"]


def _baseline(tmp_path: Path) -> Path:
    path = tmp_path / "baseline.jsonl"
    path.write_text("".join(json.dumps({"question_id": q, "model_id": "base", "choices": [{"index": 0, "turns": [
        f"baseline {q} 1", f"baseline {q} 2"]}]}, ensure_ascii=False) + "\n" for q in QUESTION_MARK), encoding="utf-8")
    return path


def test_a_judge_that_always_prefers_the_first_answer_gives_ties(judge_server, tmp_path):
    JudgeAPI.reply = staticmethod(lambda messages, body: "Assistant A is better. [[A]]")
    results, rows = run(tmp_path, judge_server, judge_mode="pairwise", judge_baseline=_baseline(tmp_path))
    metric = results["tasks"]["japanese_mt_bench"]["metrics"]["judge_win_rate"]
    assert metric["value"] == 0.5 and metric["outcomes"] == {"win": 0, "tie": 0, "loss": 0, "inconsistent": 6,
                                                            "unparseable": 0}
    assert metric["baseline"] == "base" and results["tasks"]["japanese_mt_bench"]["primary_metric"] == "judge_win_rate"
    _check_schema(results)
    assert len(JudgeAPI.calls) == 12  # 3 questions x 2 turns x both orders
    orders = [d["order"] for d in rows[0]["judgments"]]
    assert orders == ["model_first", "baseline_first"] * 2


def test_a_consistent_pairwise_judge_gives_wins_and_losses(judge_server, tmp_path):
    def prefer_model_except_f2(messages, body):
        user = messages[-1]["content"]
        model_is_a = user.index("answer 1") < user.index("baseline ")
        model_wins = "りんごが3個" not in user
        return "[[A]]" if model_is_a == model_wins else "[[B]]"

    JudgeAPI.reply = staticmethod(prefer_model_except_f2)
    results, rows = run(tmp_path, judge_server, judge_mode="pairwise", judge_baseline=_baseline(tmp_path))
    metric = results["tasks"]["japanese_mt_bench"]["metrics"]["judge_win_rate"]
    assert metric["outcomes"]["win"] == 4 and metric["outcomes"]["loss"] == 2
    assert metric["value"] == pytest.approx(2 / 3)
    assert [row["metrics"]["judge_win_rate"] for row in rows] == [1.0, 0.0, 1.0]


def test_export_round_trips_through_judge_import(judge_server, tmp_path):
    from jlce.judge.export import export_run
    from jlce.judge.fastchat import read_answers, read_judgments
    from jlce.judge.importer import import_judgments

    JudgeAPI.reply = staticmethod(scripted)
    results, rows = run(tmp_path, judge_server)
    files = export_run(tmp_path / "run", tmp_path / "fastchat")
    answers = read_answers(files[0])
    assert [(a.question_id, a.turns) for a in answers] == [(r["question_id"], r["answers"]) for r in rows]
    judgments = read_judgments(files[1])
    assert files[1].name == "judge-a_single.jsonl" and len(judgments) == 6
    assert sorted(j.score for j in judgments) == [-1.0, 4.0, 6.0, 7.0, 8.0, 9.0]
    imported = import_judgments(files[1], tmp_path / "imported")
    back = json.loads((imported[0] / "results.json").read_text())["tasks"]["japanese_mt_bench"]["metrics"]["judge_score"]
    ours = results["tasks"]["japanese_mt_bench"]["metrics"]["judge_score"]
    assert back["value"] == pytest.approx(ours["value"]) and back["unparseable"] == ours["parse_failures"]
    assert back["fastchat_row_mean"] == pytest.approx(ours["row_mean"])


def test_no_judge_records_answers_and_judge_options_alone_are_refused(tmp_path):
    from jlce.errors import UserError
    from jlce.evaluator import evaluate
    from jlce.runconfig import RunOptions

    common = dict(model="answerer", backend="dummy", tasks="japanese_mt_bench", data="fixture", show_progress=False,
                  cache_path=tmp_path / "cache.sqlite")
    outcome = evaluate(RunOptions(**common, output_dir=tmp_path / "plain"))
    assert "judge" not in outcome.results and outcome.results["tasks"]["japanese_mt_bench"]["metrics"] == {}
    with pytest.raises(UserError, match="--judge-mode pairwise needs --judge-baseline"):
        evaluate(RunOptions(**common, output_dir=tmp_path / "bad", judge_model="j", judge_mode="pairwise"))
    with pytest.raises(UserError, match="need --judge-model"):
        evaluate(RunOptions(**common, output_dir=tmp_path / "bad2", judge_backend="dummy"))
    # A misspelt judge backend option fails before any answer is generated, naming the key.
    with pytest.raises(UserError, match="base_ur.*did you mean 'base_url'"):
        evaluate(RunOptions(**common, output_dir=tmp_path / "bad3", judge_model="j", judge_backend="openai",
                            judge_backend_options={"base_ur": "http://127.0.0.1:9/v1"}))
    assert not (tmp_path / "bad3").exists()


@pytest.mark.slow  # two subprocesses importing torch
def test_end_to_end_through_the_cli_with_the_tiny_model_answering(judge_server, tmp_path, tiny_model_dir):
    """The documented command: `jlce data add` registers the pinned judge files, `jlce run` answers
    with the tiny model (two turns through its chat template) and the judge server rates."""
    from e2e_helpers import jlce, jlce_env

    JudgeAPI.reply = staticmethod(lambda messages, body: "評価：[[6]]" if _turn(messages) == 1 else "Rating: [[3]]")
    env = jlce_env(tmp_path / "cache", JLCE_DATA_DIR=str(tmp_path / "data"))
    added = jlce("data", "add", "japanese_mt_bench", str(SHARED), env=env)
    assert added.returncode == 0, added.stderr
    args = ["run", "--model", str(tiny_model_dir), "--tasks", "japanese_mt_bench", "--limit", "3", "--data", "fixture",
            "--max-new-tokens", "8", "--judge-model", "judge-a", "--judge-backend", "openai",
            "--judge-backend-arg", f"base_url={judge_server}", "-o", str(tmp_path / "run"), "-q"]
    result = jlce(*args, env=env)
    assert result.returncode == 0, result.stderr
    assert "judge_score" in result.stdout
    results = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    metric = results["tasks"]["japanese_mt_bench"]["metrics"]["judge_score"]
    assert metric["value"] == pytest.approx(4.5) and metric["by_turn"]["1"]["value"] == 6.0
    assert metric["by_turn"]["2"]["value"] == 3.0 and metric["parse_failures"] == 0
    assert len(JudgeAPI.calls) == 6
    # the judge saw the tiny model's own answers
    rows = [json.loads(line) for line in (tmp_path / "run" / "samples" / "japanese_mt_bench.jsonl").read_text().splitlines()]
    assert all(row["answers"][0] in row["judgments"][0]["prompt"] for row in rows)
    exported = jlce("judge-export", str(tmp_path / "run"), str(tmp_path / "fastchat"), env=env)
    assert exported.returncode == 0, exported.stderr
    scored = jlce("judge-scores", str(tmp_path / "fastchat" / "model_judgment" / "judge-a_single.jsonl"), env=env)
    assert scored.returncode == 0 and "4.500" in scored.stdout, scored.stdout + scored.stderr


def _short_prompt_task(tmp_path: Path) -> Path:
    """japanese_mt_bench as `mt_bench_tiny_judge`, with short judge prompts shipped beside it (`path`
    + sha256) and a 12-token judging budget: a tiny judge model reads and writes fast."""
    tasks = tmp_path / "tasks"
    (tasks / "fixtures").mkdir(parents=True)
    prompts = "".join(json.dumps({"name": name, "type": "single", "system_prompt": "審査員です。", "output_format": "[[評価]]",
                                  "prompt_template": template}, ensure_ascii=False) + "\n" for name, template in (
        ("short", "質問：{question}\n回答：{answer}\n評価："),
        ("short-ref", "質問：{question}\n参考：{ref_answer_1}\n回答：{answer}\n評価："),
        ("short-2", "質問：{question_2}\n回答：{answer_2}\n評価：")))
    (tasks / "judge.jsonl").write_text(prompts, encoding="utf-8")
    digest = hashlib.sha256(prompts.encode()).hexdigest()
    source = TASK_FILE.read_text(encoding="utf-8").replace("task: japanese_mt_bench", "task: mt_bench_tiny_judge")
    source = source[:source.index("\njudge:")] + f"""
judge:
  sources:
    own: {{path: judge.jsonl, sha256: {digest}}}
  prompts:
    single: {{source: own, name: short}}
    single_reference: {{source: own, name: short-ref}}
    single_turn2: {{source: own, name: short-2}}
    single_reference_turn2: {{source: own, name: short-2}}
  fixture_references: fixtures/reference_answer.jsonl
  reference_categories: [math]
  max_new_tokens: 12
"""
    (tasks / "mt_bench_tiny_judge.yaml").write_text(source, encoding="utf-8")
    for name in ("question.jsonl", "reference_answer.jsonl"):
        (tasks / "fixtures" / name).write_bytes((TASK_FILE.parent / "fixtures" / name).read_bytes())
    return tasks


def test_tiny_model_as_judge_through_transformers(tmp_path, tiny_model_dir):
    """Scores are noise; the plumbing is checked: the judge loads through the transformers backend,
    every judgment is recorded, and what it could not rate is counted, never dropped."""
    from jlce.evaluator import evaluate
    from jlce.runconfig import RunOptions

    tasks = _short_prompt_task(tmp_path)
    options = RunOptions(model="answerer", backend="dummy", backend_options={"reply": "answer {turn}"},
                         tasks="mt_bench_tiny_judge", include_paths=(tasks,), data="fixture",
                         judge_model=str(tiny_model_dir), judge_backend="transformers", device="cpu",
                         output_dir=tmp_path / "run", cache_path=tmp_path / "cache.sqlite", show_progress=False)
    results = evaluate(options).results
    metric = results["tasks"]["mt_bench_tiny_judge"]["metrics"]["judge_score"]
    judge = results["judge"]
    assert judge["backend"] == "transformers" and judge["judgments"] == 6
    assert metric["judgments"] == 6 and metric["parse_failures"] == judge["parse_failures"]
    assert judge["calls"] == 6 + judge["retried"]  # each unparseable judgment asked exactly once more
    rows = [json.loads(line) for line in (tmp_path / "run" / "samples" / "mt_bench_tiny_judge.jsonl").read_text().splitlines()]
    attempts = [d["attempts"] for row in rows for d in row["judgments"]]
    assert len(attempts) == 6 and all(1 <= len(a) <= 2 for a in attempts)
    assert all(a[0]["generated_tokens"] <= 12 for a in attempts)
    assert sum(d["parse_failed"] for row in rows for d in row["judgments"]) == metric["parse_failures"]


def test_judged_runs_rank_on_the_leaderboard_and_compare(judge_server, tmp_path):
    """Two answering 'models' (the dummy backend with two replies), rated by content; the judged
    runs rank through the jlce-judged leaderboard (range 1-10) and `jlce compare` pairs their questions."""
    from click.testing import CliRunner

    from jlce.cli.main import app

    JudgeAPI.reply = staticmethod(lambda messages, body: "[[8]]" if "good answer" in messages[-1]["content"] else "[[3]]")
    for name, reply in (("good", "good answer {turn}"), ("weak", "weak answer {turn}")):
        from jlce.evaluator import evaluate
        from jlce.runconfig import RunOptions

        evaluate(RunOptions(model=name, backend="dummy", backend_options={"reply": reply}, tasks="japanese_mt_bench",
                            data="fixture", judge_model="judge-a", judge_backend="openai",
                            judge_backend_options={"base_url": judge_server}, output_dir=tmp_path / name,
                            cache_path=tmp_path / "cache.sqlite", show_progress=False))
    runner = CliRunner()
    built = runner.invoke(app, ["leaderboard", "build", str(tmp_path / "good"), str(tmp_path / "weak"),
                                "--definition", "jlce-judged", "-o", str(tmp_path / "site")])
    assert built.exit_code == 0, built.output
    table = next((tmp_path / "site").glob("*.csv")).read_text(encoding="utf-8")
    assert table.index("good") < table.index("weak")
    compared = runner.invoke(app, ["compare", str(tmp_path / "weak"), str(tmp_path / "good"), "-o", str(tmp_path / "cmp")])
    assert compared.exit_code == 0, compared.output
    (row,) = json.loads((tmp_path / "cmp" / "comparison.json").read_text(encoding="utf-8"))["tasks"]
    assert (row["metric"], row["n_items"], row["a"], row["b"], row["difference"]) == ("judge_score", 3, 3.0, 8.0, 5.0)
    assert row["lo"] < 5.0 < row["hi"] and row["p_b_better"] > 0.5


def test_recorded_answers_judged_again_reproduce_fastchat_prompts_and_gpt4_scores(judge_server, tmp_path):
    """`jlce judge-answers` on the real japanese-stablelm answers (turn 1 only): every prompt JLCE
    renders equals the `user_prompt` FastChat recorded for GPT-4, and a judge server replaying GPT-4's
    recorded judgments gives the README's mean, 2.60 over 80 questions."""
    from click.testing import CliRunner

    from jlce.cli.main import app
    from jlce.data import store
    from jlce.judge.fastchat import read_judgments
    from jlce.taskload import load_task_config

    store.add_local(SHARED / "question.jsonl", load_task_config(TASK_FILE)[0].dataset.files["test"][0])
    recorded = {j.user_prompt: j.judgment for j in read_judgments(SHARED / "model_judgment" / "gpt-4_single.jsonl")
                if j.model == "japanese-stablelm-instruct-alpha-7b"}
    assert len(recorded) == 80
    JudgeAPI.reply = staticmethod(lambda messages, body: recorded[messages[-1]["content"]])
    result = CliRunner().invoke(app, [
        "judge-answers", str(SHARED / "model_answer" / "japanese-stablelm-instruct-alpha-7b.jsonl"),
        "--questions", str(SHARED / "question.jsonl"), "--judge-model", "judge-a", "--judge-backend", "openai",
        "--judge-backend-arg", f"base_url={judge_server}", "-o", str(tmp_path / "run"), "-q"])
    assert result.exit_code == 0, result.output
    assert len(JudgeAPI.calls) == 80  # turn 2 is absent from the file: recorded as such, not judged
    results = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    metric = results["tasks"]["japanese_mt_bench"]["metrics"]["judge_score"]
    assert metric["value"] == pytest.approx(2.60) and metric["questions"] == 80 and metric["parse_failures"] == 0
    assert results["model"]["name"] == "japanese-stablelm-instruct-alpha-7b"
    # exported, the judgments are held against GPT-4's own file: the same answers, the same ratings
    from jlce.judge.agreement import agreement
    from jlce.judge.export import export_run

    exported = export_run(tmp_path / "run", tmp_path / "fastchat")[1]
    held = agreement(read_judgments(SHARED / "model_judgment" / "gpt-4_single.jsonl"), read_judgments(exported))
    assert held.answers == 80 and held.exact_share == 1.0 and held.mean_abs_diff == 0.0


def test_judging_stopped_midway_resumes_from_the_cache(judge_server, tmp_path):
    """Each finished batch of judgments is cached: after the judge fails on the 4th judgment the
    same command asks only for the rest, and the scores equal an uninterrupted run's."""
    from jlce.errors import UserError

    JudgeAPI.reply = staticmethod(scripted)
    JudgeAPI.fail_after = 3
    with pytest.raises(UserError, match="judge unavailable"):
        run(tmp_path, judge_server, name="stopped", batch_size=1, judge_args={"concurrency": "1"})
    assert len(JudgeAPI.calls) == 3
    JudgeAPI.fail_after = None
    results, _ = run(tmp_path, judge_server, name="resumed", batch_size=1, judge_args={"concurrency": "1"})
    assert len(JudgeAPI.calls) == 8 and results["judge"]["cache_hits"] == 3 and results["judge"]["calls"] == 5
    assert results["tasks"]["japanese_mt_bench"]["metrics"]["judge_score"]["value"] == pytest.approx((7 + 4 + 8) / 3)


def test_a_reasoning_judge_gets_the_reasoning_budget(judge_server, tmp_path):
    JudgeAPI.served = "Judge-R1-Distill"
    JudgeAPI.reply = staticmethod(lambda messages, body: "<think>\n考え中 [[1]]\n</think>\n\n評価：[[6]]")
    results, rows = run(tmp_path, judge_server, judge_model="Judge-R1-Distill")
    assert results["judge"]["reasoning_budget"] is True
    assert {c["max_tokens"] for c in JudgeAPI.calls} == {8192}
    assert results["tasks"]["japanese_mt_bench"]["metrics"]["judge_score"]["value"] == 6.0


@pytest.mark.slow  # a vLLM engine on CPU
def test_tiny_model_as_judge_through_vllm_cpu(tmp_path, tiny_qwen_model_dir):
    pytest.importorskip("vllm")
    from jlce.evaluator import evaluate
    from jlce.runconfig import RunOptions

    tasks = _short_prompt_task(tmp_path)
    options = RunOptions(model="answerer", backend="dummy", backend_options={"reply": "answer {turn}"},
                         tasks="mt_bench_tiny_judge", include_paths=(tasks,), data="fixture", dtype="float32",
                         judge_model=str(tiny_qwen_model_dir), judge_backend="vllm",
                         judge_backend_options={"cpu_kvcache_space": "1"},
                         output_dir=tmp_path / "run", cache_path=tmp_path / "cache.sqlite", show_progress=False)
    results = evaluate(options).results
    judge, metric = results["judge"], results["tasks"]["mt_bench_tiny_judge"]["metrics"]["judge_score"]
    assert judge["backend"] == "vllm" and judge["judgments"] == 6 and judge["calls"] == 6 + judge["retried"]
    assert metric["parse_failures"] == judge["parse_failures"] and metric["judgments"] == 6


def test_pairwise_against_an_earlier_run_folder(judge_server, tmp_path):
    """The baseline can be an earlier JLCE run of the task (its answers by question id)."""
    from jlce.evaluator import evaluate
    from jlce.runconfig import RunOptions

    evaluate(RunOptions(model="old-model", backend="dummy", backend_options={"reply": "old {turn}"}, tasks="japanese_mt_bench",
                        data="fixture", output_dir=tmp_path / "old", cache_path=tmp_path / "cache.sqlite", show_progress=False))

    def prefer_model(messages, body):
        user = messages[-1]["content"]
        return "[[A]]" if user.index("answer 1") < user.index("old 1") else "[[B]]"

    JudgeAPI.reply = staticmethod(prefer_model)
    results, _ = run(tmp_path, judge_server, judge_mode="pairwise", judge_baseline=tmp_path / "old")
    metric = results["tasks"]["japanese_mt_bench"]["metrics"]["judge_win_rate"]
    assert metric["baseline"] == "old-model" and metric["value"] == 1.0 and metric["outcomes"]["win"] == 6
