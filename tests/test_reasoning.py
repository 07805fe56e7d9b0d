"""The core's reasoning handling (jlce/reasoning.py) on realistic DeepSeek-R1 outputs: where the
answer begins, the task's stops applied to the answer only, strip_think agreeing with it, the
per-sample statistics and the per-task cost, the run option and the tasks' own budgets."""

from __future__ import annotations

import pytest

from jlce.errors import UserError
from jlce.filters import strip_think
from jlce.reasoning import (
    DEFAULT_REASONING_TOKENS,
    ReasoningPolicy,
    answer_text,
    finish_answers,
    is_reasoning_model,
    prompt_opens_think,
    reasoning_stats,
    reasoning_summary,
    reasoning_token_counts,
    resolve_policy,
    split_reasoning,
    truncate_answer,
)
from jlce.requests import GenerateRequest, GenerateResult, GenerationParams

# What R1 distills actually write (DESIGN.md §11): the blank line after </think> is normal.
CLOSED = "<think>\n信濃川について考える。\n\n文章に「日本で最も長い川」とある。\n</think>\n\n信濃川\n\n補足：全長367キロメートル。"
TRUNCATED = "<think>\n全長を探す。\n\n367キロメートルと書いてあるが、単位を確かめ"  # the budget ran out
NESTED = "<think>\nまず考える。<think>内側：千曲川か？</think>\n\nそう、千曲川。\n</think>\n\n千曲川\n\n次の質問"
BLANK_FIRST = "\n\n鹿苑寺\n\n以上です。"  # a model that does not think, answering after a blank line
LONE_CLOSE = "文章によると足利義満。\n\n念のため確認した。\n</think>\n\n足利義満\n\n"  # the template opened <think>
UPPER = "<THINK>\n1994年とある。\n\n</THINK>\n\n1994年\n\nほか"


@pytest.mark.parametrize(("text", "opened", "state", "stopped_text", "answer"), [
    (CLOSED, False, "closed", CLOSED[: CLOSED.index("信濃川\n\n補足")] + "信濃川", "信濃川"),
    (TRUNCATED, False, "unclosed", TRUNCATED, ""),
    (TRUNCATED.removeprefix("<think>\n"), True, "unclosed", TRUNCATED.removeprefix("<think>\n"), ""),
    (NESTED, False, "closed", NESTED[: NESTED.rindex("\n\n次の質問")], "千曲川"),
    (BLANK_FIRST, False, "none", "\n\n鹿苑寺", "鹿苑寺"),
    (LONE_CLOSE, False, "closed", LONE_CLOSE.rstrip("\n"), "足利義満"),
    (LONE_CLOSE, True, "closed", LONE_CLOSE.rstrip("\n"), "足利義満"),
    (UPPER, False, "closed", UPPER[: UPPER.rindex("\n\nほか")], "1994年"),
])
def test_r1_outputs_keep_their_answer(text, opened, state, stopped_text, answer):
    assert split_reasoning(text, opened).state == state
    got, stopped = truncate_answer(text, ["\n\n"], opened)
    assert got == stopped_text and stopped is (state != "unclosed")
    # the filter the tasks use reads the same answer (it cannot know that a prompt opened <think>)
    if not opened:
        assert strip_think(got) == answer
    assert answer_text(GenerateResult(got, 1, opened_think=opened)).strip() == answer


def test_leading_whitespace_after_the_reasoning_is_not_a_stop():
    # the old behaviour cut "\n\n" at position 0 of the answer: an empty answer
    assert truncate_answer("<think>a</think>\n\n答え\n\nx", ["\n\n"]) == ("<think>a</think>\n\n答え", True)
    assert truncate_answer("<think>a</think>\n \n答え", ["\n"]) == ("<think>a</think>\n \n答え", False)
    assert truncate_answer("<think>a</think>\n\n", ["\n\n"]) == ("<think>a</think>\n\n", False)  # an empty answer stays empty


def test_tags_match_in_any_case_everywhere():
    for text in ("<Think>a\n\nb</THINK>\n\nc\n\nd", "<THINK>a\n\nb</think>\n\nc\n\nd"):
        cut = truncate_answer(text, ["\n\n"])[0]
        assert cut.endswith("\n\nc") and strip_think(cut) == "c" and strip_think(text) == "c\n\nd"
    assert prompt_opens_think("<｜User｜>問題<｜Assistant｜><THINK>\n")
    assert not prompt_opens_think("<think>a</think>答え") and not prompt_opens_think("問題")


def test_lone_close_is_inferred_also_with_nested_blocks():
    text = "考える <think>内側</think> さらに</think>\n\n答え"
    split = split_reasoning(text)
    assert split.state == "closed" and split.answer == "\n\n答え"
    assert strip_think(text) == "答え"


def test_a_prompt_that_opened_the_block_and_a_model_that_opens_it_again():
    assert split_reasoning(CLOSED, opened=True).answer == CLOSED[CLOSED.index("</think>") + 8:]
    assert split_reasoning("<think>内側</think>外側\n\n</think>\n\n答え", opened=True).answer == "\n\n答え"


def test_a_think_block_inside_the_answer_is_not_the_reasoning():
    assert split_reasoning("答えは7。<think>次を考える").state == "none"
    assert strip_think("答えは7。<think>次を考える") == "答えは7。"  # a dangling block is dropped
    assert strip_think("前置き<think>x</think>答え") == "前置き答え"


def test_per_sample_statistics():
    stats = reasoning_stats(CLOSED, finish_reason="stop", n_tokens=40, thinking_tokens=25)
    assert stats == {"state": "closed", "opened_by_prompt": False,
                     "reasoning_chars": len("信濃川について考える。\n\n文章に「日本で最も長い川」とある。"),
                     "answer_chars": len("信濃川\n\n補足：全長367キロメートル。"), "thinking_tokens": 25,
                     "answer_tokens": 15, "budget_hit_in_think": False}
    cut = reasoning_stats(TRUNCATED, finish_reason="length", n_tokens=64)
    assert cut["state"] == "unclosed" and cut["budget_hit_in_think"] is True
    assert cut["thinking_tokens"] == 64 and cut["answer_tokens"] == 0 and cut["answer_chars"] == 0
    # finished by EOS inside the reasoning: unclosed, but the budget was not the cause
    assert reasoning_stats(TRUNCATED, finish_reason="stop", n_tokens=30)["budget_hit_in_think"] is False
    plain = reasoning_stats("鹿苑寺", n_tokens=3)
    assert plain["state"] == "none" and plain["thinking_tokens"] == 0 and plain["answer_tokens"] == 3
    assert reasoning_stats(CLOSED, n_tokens=40)["thinking_tokens"] is None  # not counted: unknown


def _finished(texts_finish_tokens, counts):
    policy = ReasoningPolicy("on", True)
    request = GenerateRequest("問題", GenerationParams(until=("\n\n",), max_new_tokens=4))
    return [policy.finish(request, GenerateResult(text, n, finish), count)
            for (text, finish, n), count in zip(texts_finish_tokens, counts)]


def test_what_thinking_costs_per_task_against_hand_computed_values():
    results = _finished([(CLOSED, "stop", 40), (TRUNCATED, "length", 64), (NESTED, "stop", 50), (BLANK_FIRST, "stop", 6)],
                        [30, None, 44, 0])
    summary = reasoning_summary(results)
    assert summary["outputs"] == 4 and (summary["closed"], summary["unclosed"], summary["no_reasoning"]) == (2, 1, 1)
    assert summary["budget_hit_in_think"] == 1 and summary["budget_hit_in_think_share"] == 0.25
    # thinking: 30, 64 (all of the truncated one), 44, 0; answers: 10, 0, 6, 6
    assert summary["thinking_tokens"] == {"mean": 34.5, "median": 37.0, "total": 138}
    assert summary["answer_tokens"] == {"mean": 5.5, "median": 6.0, "total": 22}
    assert summary["tokens_counted"] == 4
    assert reasoning_summary([GenerateResult("x", 1)]) is None  # reasoning off: no statistics


def test_finish_applies_the_original_stops_and_keeps_the_full_text():
    closed, truncated = _finished([(CLOSED, "length", 40), (TRUNCATED, "length", 64)], [30, None])
    assert closed.text.endswith("</think>\n\n信濃川") and closed.answer == "\n\n信濃川"
    assert closed.finish_reason == "stop"  # the task's stop ended the answer
    assert truncated.text == TRUNCATED and truncated.answer == "" and truncated.finish_reason == "length"
    off = ReasoningPolicy()
    raw = GenerateResult("7", 1)
    assert off.finish(GenerateRequest("x"), raw) is raw  # reasoning off: the backend's answer as is


def test_thinking_tokens_are_counted_by_the_backends_tokenizer_in_one_call():
    calls = []

    def count(texts):
        calls.append(list(texts))
        return [len(t) for t in texts]

    got = reasoning_token_counts([(CLOSED, False), (BLANK_FIRST, False), (LONE_CLOSE, False)], count)
    region = CLOSED[: CLOSED.index("</think>") + len("</think>")]
    lone = LONE_CLOSE[: LONE_CLOSE.index("</think>") + len("</think>")]
    assert calls == [[region, lone]] and got == [len(region), 0, len(lone)]

    def cannot(texts):
        from jlce.backend import UnsupportedRequest

        raise UnsupportedRequest("no local tokenizer")

    assert reasoning_token_counts([(CLOSED, False)], cannot) == [None]


def test_finish_answers_walks_every_generation_of_every_task():
    class Inst:
        requests = [GenerateRequest("問", GenerationParams(until=("\n\n",)))]

    class T:
        name = "t"
        instances = [Inst(), Inst()]

    answers = {"t": [[GenerateResult(CLOSED, 40)], [GenerateResult(TRUNCATED, 64, "length")]]}
    finish_answers(ReasoningPolicy("on", True), [T()], answers, lambda texts: [7 for _ in texts])
    first, second = answers["t"][0][0], answers["t"][1][0]
    assert first.reasoning["thinking_tokens"] == 7 and first.answer == "\n\n信濃川"
    assert second.reasoning["budget_hit_in_think"] and second.answer == ""


def test_budget_comes_from_the_task_unless_the_run_sets_one():
    from jlce.task import load_tasks

    budgets = {t.name: t.config.generation.reasoning_max_new_tokens for t in load_tasks("jsquad,mgsm_ja,wmt23_jaen")}
    assert budgets == {"jsquad": 4096, "mgsm_ja": 16384, "wmt23_jaen": None}
    on = ReasoningPolicy("on", True)
    request = GenerateRequest("問題", GenerationParams(until=("\n\n",), max_new_tokens=64, temperature=0.6, seed=3))
    assert on.engine_request(request, 4096).params == GenerationParams((), 4096, 0.6, 1.0, 3)
    assert on.engine_request(request, 16384).params.max_new_tokens == 16384
    assert on.engine_request(request, None).params.max_new_tokens == DEFAULT_REASONING_TOKENS
    assert ReasoningPolicy("on", True, 2048).engine_request(request, 16384).params.max_new_tokens == 2048
    assert on.budget(100000, 4096) == 100000 and on.budget(0, 4096) == 0  # never lowered
    assert ReasoningPolicy().engine_request(request, 4096) is request


def test_policy_modes_and_detection():
    assert is_reasoning_model("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B") and is_reasoning_model("Qwen/QwQ-32B")
    assert not is_reasoning_model("meta-llama/Llama-3.1-8B-Instruct", "/models/r1cat")
    auto = resolve_policy("auto", None, "my-model", "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B")
    assert auto.enabled and auto.detected_from == ("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B",)
    assert not resolve_policy("auto", None, "llm-jp/llm-jp-3-1.8b").enabled
    assert not resolve_policy("off", None, "x/DeepSeek-R1").enabled
    assert resolve_policy("true", 512, "m").to_dict() == {"mode": "on", "enabled": True, "max_new_tokens": 512,
                                                          "default_max_new_tokens": 8192, "detected_from": []}
    with pytest.raises(UserError, match="must be auto, on or off, not 'maybe'"):
        resolve_policy("maybe", None, "m")


def test_run_option_takes_the_backends_former_arguments():
    from jlce.runconfig import RunOptions

    options = RunOptions(model="m", tasks="t", backend_options={"reasoning": "true", "reasoning_max_new_tokens": 64, "x": 1})
    assert (options.reasoning, options.reasoning_max_new_tokens, options.backend_options) == ("on", 64, {"x": 1})
    assert RunOptions(model="m", tasks="t", reasoning="false").reasoning == "off"
    assert RunOptions(model="m", tasks="t", reasoning="on", backend_options={"reasoning": "yes"}).reasoning == "on"
    with pytest.raises(ValueError, match="conflicts with --reasoning on"):
        RunOptions(model="m", tasks="t", reasoning="on", backend_options={"reasoning": "false"})
    with pytest.raises(ValueError, match="conflicts with --reasoning-max-new-tokens 8"):
        RunOptions(model="m", tasks="t", reasoning_max_new_tokens=8, backend_options={"reasoning_max_new_tokens": 9})
    public = options.public()
    assert public["reasoning"] == "on" and public["reasoning_max_new_tokens"] == 64  # recorded in results.json


def test_a_backend_built_directly_with_the_old_argument_says_where_it_went():
    from jlce.backendargs import backend_options
    from jlce.backends.openai.options import OpenAIOptions
    from jlce.backends.vllm.options import VLLMOptions

    for model, name in ((OpenAIOptions, "openai"), (VLLMOptions, "vllm")):
        with pytest.raises(UserError, match="reasoning is handled by the core.*--reasoning"):
            backend_options(model, {"reasoning": "true"}, name)


def test_chat_answers_with_a_separate_reasoning_field():
    from jlce.backends.openai.protocol import parse_generation

    def answer(content, reasoning, finish="stop"):
        message = {"role": "assistant", "content": content, "reasoning_content": reasoning}
        return {"choices": [{"message": message, "finish_reason": finish}], "usage": {"completion_tokens": 9}}

    # vLLM's R1 parser: content starts with the blank line
    closed = parse_generation(answer("\n\n信濃川\n\n補足", "\n考える。\n\n"), chat=True)
    assert closed.reasoning_field and truncate_answer(closed.text, ["\n\n"])[0].endswith("</think>\n\n信濃川")
    # no </think> in the output: vLLM gives no content; with finish `length` the block stays open
    cut = parse_generation(answer(None, "\n考え中", "length"), chat=True)
    assert cut.text == "<think>\n考え中" and split_reasoning(cut.text).state == "unclosed"
    assert split_reasoning(parse_generation(answer(None, "考えた"), chat=True).text).state == "unclosed"
    # a chat answer without any reasoning: stops still apply
    plain = parse_generation(answer("\n\n鹿苑寺\n\n以上", None), chat=True)
    assert not plain.reasoning_field and truncate_answer(plain.text, ["\n\n"]) == ("\n\n鹿苑寺", True)
