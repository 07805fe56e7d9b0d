"""Shared-prefix clustering and packed (tree-mask) scoring of the transformers backend, checked
against plain cache-free forward passes on real tiny models."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jlce.backends.transformers.prefix import MIN_SHARED_PREFIX, cluster_by_prefix
from jlce.backends.transformers.scoring import ContextGroup

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from jlce.backends.transformers.packed import split_members, tree_mask
from jlce.backends.transformers.backend import TransformersBackend

from jlce.backend import BackendConfig
from jlce.requests import LoglikelihoodRequest
from tolerances import assert_logprob_close


def group(context, *continuations):
    return ContextGroup(tuple(context), [(i, tuple(c)) for i, c in enumerate(continuations)])


# ---- clustering (pure) ------------------------------------------------------------------------


def test_two_fewshot_prefixes_sharing_an_instruction_stay_apart():
    instruction = list(range(1, 21))  # 20 tokens both tasks start with
    shots_a, shots_b = list(range(100, 160)), list(range(200, 240))
    groups = [group(instruction + shots_a + [500 + i, 600 + i], [7]) for i in range(30)]
    groups += [group(instruction + shots_b + [700 + i], [8, 9]) for i in range(20)]
    clusters = cluster_by_prefix(groups)
    prefixes = sorted(len(c.prefix) for c in clusters)
    assert prefixes == [len(instruction) + len(shots_b), len(instruction) + len(shots_a)]
    for cluster in clusters:
        assert all(g.context[:len(cluster.prefix)] == cluster.prefix for g in cluster.groups)


def test_short_common_prefixes_are_not_shared_and_every_context_keeps_a_token():
    short = [group([1, 2, 3, 10 + i], [5]) for i in range(5)]  # 3 shared tokens: not worth it
    base = list(range(100, 140))
    nested = [group(base, [5]), group(base + [1], [6]), group(base + [2, 3], [7])]  # one context is the prefix itself
    clusters = cluster_by_prefix(short + nested)
    by_prefix = {len(c.prefix): c for c in clusters}
    assert set(by_prefix) == {0, len(base) - 1}
    assert len(by_prefix[0].groups) == 5
    assert all(len(g.context) > len(base) - 1 for g in by_prefix[len(base) - 1].groups)


contexts = st.lists(
    st.tuples(st.integers(0, 3), st.lists(st.integers(1, 6), min_size=1, max_size=12)), min_size=1, max_size=40
)


@settings(max_examples=150, deadline=None)
@given(contexts, st.randoms(use_true_random=False))
def test_clusters_partition_the_groups_whatever_their_order(items, rng):
    stems = [list(range(1000 * k, 1000 * k + 18 + 5 * k)) for k in range(4)]
    unique = {tuple(stems[k] + tail): None for k, tail in items}
    groups = [group(ctx, [1, 2]) for ctx in unique]
    clusters = cluster_by_prefix(groups)
    shuffled = list(groups)
    rng.shuffle(shuffled)
    again = cluster_by_prefix(shuffled)
    assert [(c.prefix, [g.context for g in c.groups]) for c in clusters] == \
           [(c.prefix, [g.context for g in c.groups]) for c in again]
    assert sorted(g.context for c in clusters for g in c.groups) == sorted(unique)
    for cluster in clusters:
        assert len(cluster.prefix) == 0 or len(cluster.prefix) >= MIN_SHARED_PREFIX
        for g in cluster.groups:
            assert g.context[:len(cluster.prefix)] == cluster.prefix and len(g.context) > len(cluster.prefix)
    assert sum(1 for c in clusters if not c.prefix) <= 1


def test_split_members_bounds_continuation_tokens_per_row():
    g = group([1, 2], [1] * 3, [2] * 5, [3] * 200, [4] * 2, [5] * 400)
    rows = split_members([g], limit=10)
    assert [[len(c) for _, c in r.members] for r in rows] == [[3, 5], [200], [2], [400]]
    assert all(r.context == g.context for r in rows)
    assert [k for r in rows for k, _ in r.members] == [0, 1, 2, 3, 4]


def test_tree_mask_lets_each_continuation_see_only_the_context_and_itself():
    segments = torch.tensor([[-1, 0, 0, 1, 1, 2]])  # pad, context x2, continuation 1 x2, continuation 2
    mask = tree_mask(segments, shared=2, dtype=torch.float32, eager=False)[0, 0]
    expected = [
        [0, 0, 1, 0, 0, 0, 0, 0],  # padding: itself only
        [1, 1, 0, 1, 0, 0, 0, 0],
        [1, 1, 0, 1, 1, 0, 0, 0],
        [1, 1, 0, 1, 1, 1, 0, 0],
        [1, 1, 0, 1, 1, 1, 1, 0],
        [1, 1, 0, 1, 1, 0, 0, 1],  # continuation 2 does not see continuation 1
    ]
    assert mask.int().tolist() == expected
    additive = tree_mask(segments, shared=2, dtype=torch.float32, eager=True)[0, 0]
    assert torch.equal(additive == 0, mask)


# ---- scoring on real models -------------------------------------------------------------------

SHOTS_A = "以下は質問と答えの例です。\n質問: 一年は何か月ですか。\n答え: 十二か月\n\n質問: 信号の「止まれ」は何色ですか。\n答え: 赤\n\n"
SHOTS_B = "前提と仮説の関係を答えてください。\n前提: 男性が自転車に乗っている。\n仮説: 人が乗り物に乗っている。\n関係: 含意\n\n"
ITEMS_A = [("質問: 日本の首都はどこですか。\n答え:", [" 東京", " 大阪", " 京都府の北部にある小さな町"]),
           ("質問: 富士山は何県にありますか。\n答え:", [" 静岡県と山梨県", " 北海道"]),
           ("質問: 猫の鳴き声は？\n答え:", [" にゃあ", " わんわん", " もー", " ぶーぶー"])]
ITEMS_B = [("前提: 女の子がピアノを弾いている。\n仮説: 子どもが楽器を演奏している。\n関係:", [" 含意", " 矛盾", " 中立です"]),
           ("前提: 犬が走っている。\n仮説: 動物が眠っている。\n関係:", [" 含意", " 矛盾"])]
ZERO_SHOT = [("計算: 3 + 4 =", [" 7", " 12", " 三十四"]), ("", ["猫が寝ている"])]


def pooled_requests() -> list[LoglikelihoodRequest]:
    out = [LoglikelihoodRequest(SHOTS_A + c, k) for c, ks in ITEMS_A for k in ks]
    out += [LoglikelihoodRequest(SHOTS_B + c, k) for c, ks in ITEMS_B for k in ks]
    return out + [LoglikelihoodRequest(c, k) for c, ks in ZERO_SHOT for k in ks]


def encode(tokenizer, request):
    """lm-evaluation-harness' encoding (empty context: BOS)."""
    if not request.context:
        return [tokenizer.bos_token_id], tokenizer(request.continuation, add_special_tokens=False)["input_ids"]
    whole = tokenizer(request.context + request.continuation)["input_ids"]
    ctx = tokenizer(request.context)["input_ids"]
    return ctx, whole[len(ctx):]


def plain_logprob(model, ids, n_scored):
    with torch.no_grad():
        logprobs = torch.log_softmax(model(torch.tensor([ids])).logits[0].double(), dim=-1)
    return sum(logprobs[p - 1, ids[p]].item() for p in range(len(ids) - n_scored, len(ids)))


def run(model_dir, size, **options):
    backend = TransformersBackend(BackendConfig(model=str(model_dir), batch_size=size, options=options))
    answers, events = {}, []
    for pairs, event in backend.loglikelihood(pooled_requests()):
        answers.update(pairs)
        events.append(event)
    return backend, answers, events


@pytest.mark.parametrize(("which", "options"), [("tiny_model_dir", {}), ("tiny_model_dir", {"attn_implementation": "eager"}),
                                                ("tiny_qwen_model_dir", {})])
def test_pooled_fewshot_tasks_equal_plain_forward_at_every_batch_size(which, options, request):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = request.getfixturevalue(which)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    requests = pooled_requests()
    runs = {size: run(model_dir, size, **options) for size in (1, 4, 32)}
    assert runs[1][0].packing
    for i, req in enumerate(requests):
        ctx, cont = encode(tokenizer, req)
        expected = plain_logprob(model, ctx + cont, len(cont))
        for size, (_, answers, _) in runs.items():
            assert_logprob_close(answers[i].logprob, expected, len(cont), size, i)
            assert answers[i].n_tokens == len(cont)
        assert len({runs[s][1][i].is_greedy for s in runs}) == 1


def test_each_fewshot_prefix_is_computed_once(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    requests = pooled_requests()
    pairs = [encode(tokenizer, r) for r in requests]
    contexts = {tuple(c) for c, _ in pairs}
    prefix_a = len(os.path.commonprefix([list(c) for c in {tuple(encode(tokenizer, r)[0]) for r in requests[:9]}]))
    prefix_b = len(os.path.commonprefix([list(c) for c in {tuple(encode(tokenizer, r)[0]) for r in requests[9:14]}]))
    assert prefix_a >= MIN_SHARED_PREFIX and prefix_b >= MIN_SHARED_PREFIX
    expected_context_tokens = sum(map(len, contexts)) - 2 * prefix_a - 1 * prefix_b  # A: 3 contexts, B: 2
    for size in (1, 4, 32):
        _, _, events = run(tiny_model_dir, size)
        assert sum(e.prompt_tokens for e in events) == expected_context_tokens + sum(len(c) - 1 for _, c in pairs)
        assert sorted({e.extra["shared_prefix_tokens"] for e in events}) == sorted({0, prefix_a, prefix_b})


def test_output_layer_runs_only_on_scored_positions(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    backend = TransformersBackend(BackendConfig(model=str(tiny_model_dir), batch_size=32))
    seen: list[tuple[int, ...]] = []
    handle = backend.model.get_output_embeddings().register_forward_hook(
        lambda module, args, output: seen.append(tuple(args[0].shape)))
    try:
        answers = {}
        for pairs, _ in backend.loglikelihood(pooled_requests()):
            answers.update(pairs)
    finally:
        handle.remove()
    batches = [shape for shape in seen if shape[0] == 1 and shape[1] > 1]
    n_scored = sum(len(encode(tokenizer, r)[1]) for r in pooled_requests())
    assert sum(shape[1] for shape in batches) == n_scored  # one output row per scored token
    assert len(answers) == len(pooled_requests())


def test_many_long_continuations_of_one_context_are_split_over_rows(tiny_model_dir):
    """A context whose continuations hold more than a row's budget of tokens uses several rows."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    text = "朝の駅は静かだった。量子コンピュータ2030年ABC、" * 8
    requests = [LoglikelihoodRequest(SHOTS_A + "質問: 次の文を続けてください。\n答え:", text[i:]) for i in range(0, 12, 2)]
    backend = TransformersBackend(BackendConfig(model=str(tiny_model_dir), batch_size=2))
    rows: list[int] = []
    handle = backend.model.register_forward_pre_hook(
        lambda module, args, kwargs: rows.append(kwargs["input_ids"].shape[0]), with_kwargs=True)
    answers = {}
    try:
        for pairs, _ in backend.loglikelihood(requests):
            answers.update(pairs)
    finally:
        handle.remove()
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    total = sum(len(encode(tokenizer, r)[1]) - 1 for r in requests)
    assert total > 256 and max(rows) <= 2 and len(rows) >= 2
    for i, req in enumerate(requests):
        ctx, cont = encode(tokenizer, req)
        assert_logprob_close(answers[i].logprob, plain_logprob(model, ctx + cont, len(cont)), len(cont))


def test_generation_with_a_shared_fewshot_prefix_equals_transformers_generate(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from jlce.requests import GenerateRequest, GenerationParams

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    prompts = [SHOTS_A + c for c, _ in ITEMS_A] + [SHOTS_B + c for c, _ in ITEMS_B] + ["猫が"]
    requests = [GenerateRequest(p, GenerationParams(max_new_tokens=5 + i)) for i, p in enumerate(prompts)]
    runs = []
    for size in (1, 3, 32):
        backend = TransformersBackend(BackendConfig(model=str(tiny_model_dir), batch_size=size))
        answers, events = {}, []
        for pairs, event in backend.generate_until(requests):
            answers.update(pairs)
            events.append(event)
        runs.append(answers)
        assert {e.extra["shared_prefix_tokens"] > 0 for e in events} == {True, False}
        prompt_ids = [tokenizer(p)["input_ids"] for p in prompts]
        assert sum(e.prompt_tokens for e in events) < sum(map(len, prompt_ids))  # the few-shot parts ran once
    assert runs[0] == runs[1] == runs[2]
    for i, prompt in enumerate(prompts):
        ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=5 + i, do_sample=False,
                             eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
        new = out[0, ids.shape[1]:].tolist()
        assert runs[0][i].text == tokenizer.decode(new, skip_special_tokens=True)
        assert runs[0][i].n_tokens == len(new)
