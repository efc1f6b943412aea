"""The key/value prefix (prefix tuning's attachment): scoring and generation through PromptLM
equal the no-cache reference with the prefix prepended; left padding and the shared-beginning
training path change nothing; it saves, loads and exports as PEFT's prefix-tuning adapter, and
a prefix of another shape or a damaged file is refused in one line."""

import pytest
import torch
from helpers.generation import (
    ATOL,
    CONTEXTS,
    MAX_GEN_TOKS,
    PAIRS,
    SHARED,
    a_stop_string,
    gen_requests,
    greedy_reference,
    ids,
    ll_requests,
    manual_loglikelihood,
    prompt_lm,
)

from promot_bench.errors import RunError, UsageError
from promot_bench.models import export, specs
from promot_bench.train import loss, shared_prefix
from promot_bench.train.kv_prefix import KVPrefix


def random_prefix(model, length=5) -> KVPrefix:
    return KVPrefix.random(model, length, seed=0)


def prefix_of(model, tokens: list[int]) -> KVPrefix:
    """A prefix that is real tokens' own keys and values: the model's cache of `tokens`."""
    with torch.no_grad():
        cache = model(input_ids=torch.tensor([tokens]), use_cache=True).past_key_values
    layers = [torch.stack([layer.keys[0], layer.values[0]]) for layer in cache.layers]
    return KVPrefix(torch.stack(layers))


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_a_prefix_of_real_tokens_gives_the_model_s_own_continuation(arch, request):
    """Ground truth independent of `prepend`: with tokens T's own keys and values as the prefix,
    rows X (left-padded to one batch) get the logits the model gives T + X at X's columns."""
    loaded = request.getfixturevalue(arch)
    tok, model = loaded.tokenizer, loaded.model
    beginning = ids(tok, "Q: What is the capital of France? A: Paris")
    rows = [ids(tok, " Q: Where is Lyon? A:"), ids(tok, " premise")]
    prefix = prefix_of(model, beginning)
    width = max(map(len, rows))
    batch = torch.tensor([[0] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    with torch.no_grad():
        ours = model(**prefix.prepend(model, batch, mask)).logits
        for i, row in enumerate(rows):
            whole = model(input_ids=torch.tensor([beginning + row])).logits[0, len(beginning) :]
            assert torch.allclose(ours[i, width - len(row) :], whole, atol=1e-4)


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_scoring_and_generation_equal_the_reference(arch, request):
    loaded = request.getfixturevalue(arch)
    prefix = random_prefix(loaded.model)
    lm = prompt_lm(loaded, prefix)
    scored = lm.loglikelihood(ll_requests(), disable_tqdm=True)
    for (context, continuation), (logprob, greedy) in zip(PAIRS, scored):
        expected, expected_greedy = manual_loglikelihood(loaded, prefix, context, continuation)
        assert logprob == pytest.approx(expected, abs=ATOL) and greedy == expected_greedy
    plain = prompt_lm(loaded, None).loglikelihood(ll_requests(), disable_tqdm=True)
    assert all(abs(a[0] - b[0]) > 1e-3 for a, b in zip(scored, plain))  # the prefix matters
    # SHARED: a shared beginning cached after the prefix (longer than gemma3's tiny window)
    for contexts in (CONTEXTS, SHARED) if arch == "llama" else (CONTEXTS,):
        free = [greedy_reference(loaded, prefix, c, [], MAX_GEN_TOKS) for c in contexts]
        stop = a_stop_string(free)
        expected = [greedy_reference(loaded, prefix, c, [stop], MAX_GEN_TOKS) for c in contexts]
        assert lm.generate_until(gen_requests([stop], contexts), disable_tqdm=True) == expected
    assert lm.prefix_cache is not None
    assert lm.prefix_cache.hits >= 1 or arch != "llama"  # SHARED's second batch reused the first's


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_outside_refill_greedy_decoding_gives_the_reference(arch, request):
    """No shared-beginning reuse (llama), or rows beyond gemma3's sliding window, which refill
    hands on: the prefix's own greedy loop gives the reference's tokens."""
    loaded = request.getfixturevalue(arch)
    prefix = random_prefix(loaded.model)
    lm = prompt_lm(loaded, prefix, reuse_prefix=(arch == "gemma3"))
    contexts = SHARED if arch == "gemma3" else CONTEXTS
    if arch == "gemma3":
        window = loaded.model.config.sliding_window
        assert min(len(ids(loaded.tokenizer, c)) for c in contexts) > window
    expected = [greedy_reference(loaded, prefix, c, [], MAX_GEN_TOKS) for c in contexts]
    assert lm.generate_until(gen_requests([], contexts), disable_tqdm=True) == expected
    assert lm.prefix_cache is None  # refill did not run (gemma3: it fell back)


def test_left_padding_keeps_each_row_s_logits(llama):
    prefix = random_prefix(llama.model)
    short, long = ids(llama.tokenizer, "premise"), ids(llama.tokenizer, "The quick brown fox")
    pad = len(long) - len(short)
    batch = torch.tensor([[0] * pad + short, long])
    mask = torch.tensor([[0] * pad + [1] * len(short), [1] * len(long)])
    with torch.no_grad():
        both = llama.model(**prefix.prepend(llama.model, batch, mask)).logits
        alone = llama.model(**prefix.prepend(llama.model, torch.tensor([short]))).logits
    assert torch.allclose(both[0, pad:], alone[0], atol=1e-5)


def test_the_shared_beginning_training_path_equals_the_plain_one(llama):
    """Loss and gradients (to the prefix and the weights) equal the plain path's."""
    prefix = random_prefix(llama.model)
    tok = llama.tokenizer
    shared = ids(tok, "Translate English to French: The quick brown fox jumps over the lazy dog.")
    rows = [shared + ids(tok, w) for w in (" United Kingdom", " premise")]
    n, width = len(shared), max(map(len, rows))
    batch = {
        "input_ids": torch.tensor([r + [0] * (width - len(r)) for r in rows]),
        "attention_mask": torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows]),
        "labels": torch.tensor([[-100] * n + r[n:] + [-100] * (width - len(r)) for r in rows]),
    }
    # the shared path runs: its shared tokens alone reach MIN_SHARED (the prefix saves no work)
    assert shared_prefix.shared_length(*batch.values()) >= shared_prefix.MIN_SHARED
    results = []
    for path in (shared_prefix.loss, loss.plain_loss):
        llama.model.zero_grad()
        prefix.weight.grad = None
        value = path(llama.model, batch, prefix, 0.0)
        value.backward()
        grads = [prefix.weight.grad.clone(), llama.model.lm_head.weight.grad.clone()]
        results.append((value.detach(), grads))
    (shared, shared_grads), (plain, plain_grads) = results
    assert torch.allclose(shared, plain, atol=1e-6)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(shared_grads, plain_grads))
    llama.model.zero_grad()


def test_a_prefix_saves_loads_and_refuses_another_model_s_or_a_damaged_file(llama, tmp_path):
    prefix = random_prefix(llama.model)
    path = prefix.save(tmp_path / "seed0.prompt.safetensors")
    assert torch.equal(KVPrefix.load(path).weight, prefix.weight)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(RunError, match="missing or damaged"):
        KVPrefix.load(path)
    from safetensors.torch import save_file

    save_file(
        {"kv_prefix": prefix.weight.detach()[:1]}, str(path), metadata={"shape": "2,2,2,5,16"}
    )
    with pytest.raises(RunError, match="inconsistent"):
        KVPrefix.load(path)
    wrong = KVPrefix(torch.zeros(3, 2, 2, 5, 16))  # three layers for a two-layer model
    with pytest.raises(UsageError, match="trained for another model"):
        wrong.prepend(llama.model, torch.tensor([[5, 6]]))


def test_the_exported_adapter_is_peft_s_prefix_tuning(tiny_llama_dir, tmp_path):
    from peft import PeftModel

    ours, base = (specs.load_from_path(tiny_llama_dir) for _ in range(2))
    prefix = random_prefix(ours.model)
    export.save_prefix_adapter(tmp_path / "peft", prefix)
    theirs = PeftModel.from_pretrained(base.model, tmp_path / "peft")
    batch = torch.tensor([ids(ours.tokenizer, "The quick brown fox")])
    with torch.no_grad():
        expected = ours.model(**prefix.prepend(ours.model, batch)).logits
        assert torch.allclose(theirs(input_ids=batch).logits, expected, atol=1e-5)
