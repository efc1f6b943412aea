"""PromptLM: lm-eval's HFLM with a soft prompt attached. Scores and generations must equal a
direct computation written here (no KV cache, one request at a time), on batches of requests of
different lengths; with no prompt it must be HFLM exactly."""

import pytest
from helpers.generation import (
    ARCHS,
    ATOL,
    CONTEXTS,
    DEMO,
    MAX_GEN_TOKS,
    PAIRS,
    SHARED,
    NoPrompt,
    a_stop_string,
    gen_requests,
    greedy_reference,
    ids,
    ll_requests,
    manual_loglikelihood,
    max_new_tokens,
    prompt_lm,
)
from lm_eval.models.huggingface import HFLM

from promot_bench.train.soft_prompt import SoftPrompt


@pytest.mark.parametrize("arch", ARCHS)
def test_loglikelihood_equals_manual_computation(arch, request):
    loaded = request.getfixturevalue(arch)
    prompt = SoftPrompt.from_vocab(loaded.model, 5, seed=0)
    results = prompt_lm(loaded, prompt).loglikelihood(ll_requests(), disable_tqdm=True)
    for (ctx, cont), (logprob, greedy) in zip(PAIRS, results):
        expected, expected_greedy = manual_loglikelihood(loaded, prompt, ctx, cont)
        assert logprob == pytest.approx(expected, abs=ATOL) and greedy == expected_greedy
    # The prompt matters (else the comparison above proves little).
    plain = prompt_lm(loaded, None).loglikelihood(ll_requests(), disable_tqdm=True)
    assert all(abs(a[0] - b[0]) > 1e-3 for a, b in zip(results, plain))


@pytest.mark.parametrize("arch", ARCHS)
def test_generate_until_equals_step_by_step_reference(arch, request):
    loaded = request.getfixturevalue(arch)
    prompt = SoftPrompt.from_vocab(loaded.model, 5, seed=0)
    lm = prompt_lm(loaded, prompt)
    free = [greedy_reference(loaded, prompt, c, [], max_new_tokens(loaded)) for c in CONTEXTS]
    assert lm.generate_until(gen_requests([]), disable_tqdm=True) == free
    stop = a_stop_string(free)
    expected = [
        greedy_reference(loaded, prompt, c, [stop], max_new_tokens(loaded)) for c in CONTEXTS
    ]
    assert lm.generate_until(gen_requests([stop]), disable_tqdm=True) == expected
    assert expected != free  # the stop string did cut something


@pytest.mark.parametrize("arch", ["llama", "t5"])
def test_without_prompt_it_is_plain_hflm(arch, request):
    loaded = request.getfixturevalue(arch)
    ours = prompt_lm(loaded, None)
    stock = HFLM(pretrained=loaded.model, tokenizer=loaded.tokenizer, batch_size=4)
    assert ours.max_length == stock.max_length
    assert ours.loglikelihood(ll_requests(), disable_tqdm=True) == stock.loglikelihood(
        ll_requests(), disable_tqdm=True
    )
    stop = ["a"]
    assert ours.generate_until(gen_requests(stop), disable_tqdm=True) == stock.generate_until(
        gen_requests(stop), disable_tqdm=True
    )


def test_prompt_takes_its_length_from_the_window(llama):
    prompt = SoftPrompt.from_vocab(llama.model, 5, seed=0)
    assert prompt_lm(llama, prompt, max_length=24).max_length == 19
    assert prompt_lm(llama, None, max_length=24).max_length == 24
    # Long inputs are truncated so that prompt + tokens never exceed the model's window.
    widths = []

    def record(_module, _args, kwargs):  # columns the model attends over in this call
        tokens = kwargs.get("inputs_embeds", kwargs.get("input_ids"))
        cache = kwargs.get("cache")
        widths.append(tokens.shape[1] + (cache.get_seq_length() if cache is not None else 0))

    hook = llama.model.register_forward_pre_hook(record, with_kwargs=True)
    try:
        lm = prompt_lm(llama, prompt, max_length=24)
        long = " ".join(["The quick brown fox jumps over the lazy dog."] * 4)
        lm.loglikelihood(ll_requests([(long, " Paris")]), disable_tqdm=True)
        assert widths == [24]
        widths.clear()
        lm.generate_until(gen_requests([], [long]), disable_tqdm=True)
        assert widths and max(widths) <= 24
    finally:
        hook.remove()


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
@pytest.mark.parametrize("with_prompt", [True, False])
def test_shared_prefix_generation_equals_reference(arch, with_prompt, request):
    """The few-shot beginning is computed once and reused across batches: outputs must equal
    the no-cache reference (gpt2's absolute positions show any position mistake)."""
    loaded = request.getfixturevalue(arch)
    prompt = SoftPrompt.from_vocab(loaded.model, 5, seed=0) if with_prompt else None
    lm = prompt_lm(loaded, prompt)
    assert lm.prefix_cache is not None
    free = [greedy_reference(loaded, prompt or NoPrompt(), c, [], MAX_GEN_TOKS) for c in SHARED]
    assert lm.generate_until(gen_requests([], SHARED), disable_tqdm=True) == free
    assert lm.prefix_cache.hits >= 1  # the second batch reused the first one's cache
    stop = a_stop_string(free)
    expected = [
        greedy_reference(loaded, prompt or NoPrompt(), c, [stop], MAX_GEN_TOKS) for c in SHARED
    ]
    assert lm.generate_until(gen_requests([stop], SHARED), disable_tqdm=True) == expected
    # And the path without reuse (stock HFLM's arithmetic) gives the same.
    plain = prompt_lm(loaded, prompt, reuse_prefix=False)
    assert plain.prefix_cache is None
    assert plain.generate_until(gen_requests([stop], SHARED), disable_tqdm=True) == expected


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_refill_generation_equals_reference(arch, request, monkeypatch):
    """Rows stop at different steps and new ones take their places mid-batch (merging caches
    of different widths, dropping finished rows): every output still equals the no-cache
    reference."""
    from promot_bench.evaluate import refill

    loaded = request.getfixturevalue(arch)
    contexts = [DEMO + f"Q: {' '.join(['word'] * k)} number {k}? A:" for k in range(11)]
    merges = []
    real_merge = refill.Rows.merge
    monkeypatch.setattr(refill.Rows, "merge", lambda *a: merges.append(1) or real_merge(*a))
    lm = prompt_lm(loaded, None, batch_size=3)
    free = [greedy_reference(loaded, NoPrompt(), c, [], MAX_GEN_TOKS) for c in contexts]
    stops = sorted({ch for text in free for ch in text if ch.isascii() and ch.isalpha()})[:3]
    expected = [greedy_reference(loaded, NoPrompt(), c, stops, MAX_GEN_TOKS) for c in contexts]
    assert len({len(e) for e in expected}) > 2  # rows really stop at different points
    assert lm.generate_until(gen_requests(stops, contexts), disable_tqdm=True) == expected
    assert merges  # some rows joined a batch already decoding


def test_refill_with_a_sliding_window_equals_reference_inside_and_beyond_it(gemma3, monkeypatch):
    """Gemma 3's local layers: while every row stays inside the window the sliding cache is a
    plain growing one, and refill (shared beginning, merges, dropped rows) gives the no-cache
    reference's tokens; a row that would outgrow the window sends the requests to stock
    generation, which gives them too."""
    from promot_bench.evaluate import refill

    tok = gemma3.tokenizer
    inside = [f"Q: {'ab ' * k}? A:" for k in range(1, 5)]
    window = gemma3.model.config.sliding_window
    assert max(len(ids(tok, c)) for c in inside) + MAX_GEN_TOKS <= window - 1
    merges = []
    real_merge = refill.Rows.merge
    monkeypatch.setattr(refill.Rows, "merge", lambda *a: merges.append(1) or real_merge(*a))
    lm = prompt_lm(gemma3, None, batch_size=2)
    expected = [greedy_reference(gemma3, NoPrompt(), c, [], MAX_GEN_TOKS) for c in inside]
    assert lm.generate_until(gen_requests([], inside), disable_tqdm=True) == expected
    assert lm.prefix_cache is not None and merges  # the refill path ran, rows joined mid-batch
    beyond = [DEMO + c for c in inside]
    assert min(len(ids(tok, c)) for c in beyond) > window
    lm = prompt_lm(gemma3, None, batch_size=2)
    expected = [greedy_reference(gemma3, NoPrompt(), c, [], MAX_GEN_TOKS) for c in beyond]
    assert lm.generate_until(gen_requests([], beyond), disable_tqdm=True) == expected
    assert lm.prefix_cache is None  # fell back to stock generation
