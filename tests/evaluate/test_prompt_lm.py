"""PromptLM: lm-eval's HFLM with a soft prompt attached. Scores and generations must equal a
direct computation written here (no KV cache, one request at a time), on batches of requests of
different lengths; with no prompt it must be HFLM exactly."""

import pytest
import torch
from lm_eval.api.instance import Instance
from lm_eval.models.huggingface import HFLM

from promot_bench.evaluate.prompt_lm import PromptLM
from promot_bench.train.soft_prompt import SoftPrompt

ARCHS = ["llama", "gpt2", "t5"]
PAIRS = [
    ("Q: What is the capital of France? A:", " Paris"),
    ("Translate English to French:", " United Kingdom"),
    ("The quick brown fox", " jumps over the lazy dog."),
    # Same context, one-token continuations: HFLM scores both from one forward pass.
    ("premise", " True"),
    ("premise", " False"),
]
CONTEXTS = [
    "Q: What is the capital of France? A:",
    "Translate English to French:",
    "premise",
    "The quick brown fox jumps over",
]
MAX_GEN_TOKS = 8
ATOL = 1e-5


def prompt_lm(loaded, prompt, **kwargs):
    kwargs.setdefault("batch_size", 4)
    return PromptLM(
        pretrained=loaded.model, tokenizer=loaded.tokenizer, soft_prompt=prompt, **kwargs
    )


def ll_requests(pairs=PAIRS):
    return [Instance(request_type="loglikelihood", doc={}, arguments=pair, idx=0) for pair in pairs]


def gen_requests(until, contexts=CONTEXTS):
    gen_kwargs = {"until": until, "max_gen_toks": MAX_GEN_TOKS, "do_sample": False}
    return [
        Instance(request_type="generate_until", doc={}, arguments=(c, dict(gen_kwargs)), idx=0)
        for c in contexts
    ]


def ids(tokenizer, text):
    return tokenizer(text, add_special_tokens=False)["input_ids"]


@torch.no_grad()
def manual_loglikelihood(loaded, prompt, context, continuation):
    """Sum of log-softmax over the continuation, one request alone, prompt in front."""
    model, tok = loaded.model, loaded.tokenizer
    if model.config.is_encoder_decoder:
        cont = ids(tok, continuation)
        kwargs = prompt.prepend(
            model, torch.tensor([ids(tok, context)]), labels=torch.tensor([cont])
        )
        logprobs = model(**kwargs).logits[0].log_softmax(-1)  # row i predicts cont[i]
    else:
        # As lm-eval splits a causal pair: encode the whole, the context's tokens come first.
        whole, n_ctx = ids(tok, context + continuation), len(ids(tok, context))
        cont = whole[n_ctx:]
        logits = model(**prompt.prepend(model, torch.tensor([whole]))).logits[0]
        # Position p predicts token p+1: the continuation's predictors sit just before it.
        start = prompt.length + n_ctx - 1
        logprobs = logits[start : start + len(cont)].log_softmax(-1)
    cont = torch.tensor(cont)
    picked = logprobs.gather(1, cont[:, None]).squeeze(1)
    return float(picked.sum()), bool((logprobs.argmax(-1) == cont).all())


@torch.no_grad()
def greedy_reference(loaded, prompt, context, until, max_new):
    """Greedy decoding with NO KV cache: the full forward pass, prompt prepended, every step."""
    model, tok = loaded.model, loaded.tokenizer
    ctx, new = torch.tensor([ids(tok, context)]), []
    for _ in range(max_new):
        if model.config.is_encoder_decoder:
            decoder_ids = torch.tensor([[model.config.decoder_start_token_id] + new])
            kwargs = prompt.prepend(model, ctx, decoder_input_ids=decoder_ids)
        else:
            kwargs = prompt.prepend(
                model, torch.cat([ctx, torch.tensor([new], dtype=torch.long)], 1)
            )
        next_id = int(model(**kwargs, use_cache=False).logits[0, -1].argmax())
        if next_id == tok.eos_token_id:
            break
        new.append(next_id)
        if any(stop in tok.decode(new, skip_special_tokens=True) for stop in until):
            break
    text = tok.decode(new, skip_special_tokens=True)
    for stop in until:  # lm-eval cuts the text at the first stop sequence
        text = text.split(stop)[0]
    return text


def max_new_tokens(loaded):
    if loaded.model.config.is_encoder_decoder:
        # HFLM hands seq2seq generate `max_length = padded context length + max_gen_toks`, which
        # generate applies to the decoder (start token included): mirror it, quirk and all.
        return max(len(ids(loaded.tokenizer, c)) for c in CONTEXTS) + MAX_GEN_TOKS - 1
    return MAX_GEN_TOKS


def a_stop_string(texts):
    """A character the model really writes after its first one, so stopping is exercised.
    Plain ASCII only: lm-eval's stop check decodes a few tokens at a time, and a cut UTF-8
    sequence decodes to U+FFFD there but not in the full text."""
    for text in texts:
        for char in text[1:]:
            if char.isascii() and char.isprintable() and not char.isspace():
                return char
    pytest.fail(f"no usable stop string in {texts!r}")


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


# Few-shot contexts: one long demonstration shared by every item, items of different lengths.
DEMO = "Q: What is the capital of Italy? A: Rome\n\nQ: What is the capital of Spain? A: Madrid\n\n"
# Each batch of 4 (longest first) holds items with different first words, so every batch shares
# exactly DEMO + "Q:" and the second reuses the first's cache.
SHARED = [
    DEMO + c
    for c in [
        "Q: Which river crosses Paris? A:",
        "Q: Where is Lyon? A:",
        "Q: Largest city of the country that borders Belgium? A:",
        "Q: Name a port. A:",
        "Q: Who? A:",
        "Q: Capital of France? A:",
    ]
]


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
@pytest.mark.parametrize("with_prompt", [True, False])
def test_shared_prefix_generation_equals_reference(arch, with_prompt, request):
    """The few-shot beginning is computed once and reused across batches: outputs must equal
    the no-cache reference (gpt2's absolute positions show any position mistake)."""
    loaded = request.getfixturevalue(arch)
    prompt = SoftPrompt.from_vocab(loaded.model, 5, seed=0) if with_prompt else None
    lm = prompt_lm(loaded, prompt)
    assert lm.prefix_cache is not None
    free = [greedy_reference(loaded, prompt or _NoPrompt(), c, [], MAX_GEN_TOKS) for c in SHARED]
    assert lm.generate_until(gen_requests([], SHARED), disable_tqdm=True) == free
    assert lm.prefix_cache.hits >= 1  # the second batch reused the first one's cache
    stop = a_stop_string(free)
    expected = [
        greedy_reference(loaded, prompt or _NoPrompt(), c, [stop], MAX_GEN_TOKS) for c in SHARED
    ]
    assert lm.generate_until(gen_requests([stop], SHARED), disable_tqdm=True) == expected
    # And the path without reuse (stock HFLM's arithmetic) gives the same.
    plain = prompt_lm(loaded, prompt, reuse_prefix=False)
    assert plain.prefix_cache is None
    assert plain.generate_until(gen_requests([stop], SHARED), disable_tqdm=True) == expected


class _NoPrompt:
    """`greedy_reference` with nothing prepended."""

    length = 0

    def prepend(self, model, input_ids, attention_mask=None, labels=None, **passthrough):
        return {"input_ids": input_ids, **passthrough}


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
    free = [greedy_reference(loaded, _NoPrompt(), c, [], MAX_GEN_TOKS) for c in contexts]
    stops = sorted({ch for text in free for ch in text if ch.isascii() and ch.isalpha()})[:3]
    expected = [greedy_reference(loaded, _NoPrompt(), c, stops, MAX_GEN_TOKS) for c in contexts]
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
    expected = [greedy_reference(gemma3, _NoPrompt(), c, [], MAX_GEN_TOKS) for c in inside]
    assert lm.generate_until(gen_requests([], inside), disable_tqdm=True) == expected
    assert lm.prefix_cache is not None and merges  # the refill path ran, rows joined mid-batch
    beyond = [DEMO + c for c in inside]
    assert min(len(ids(tok, c)) for c in beyond) > window
    lm = prompt_lm(gemma3, None, batch_size=2)
    expected = [greedy_reference(gemma3, _NoPrompt(), c, [], MAX_GEN_TOKS) for c in beyond]
    assert lm.generate_until(gen_requests([], beyond), disable_tqdm=True) == expected
    assert lm.prefix_cache is None  # fell back to stock generation
