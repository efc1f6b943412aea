"""References for the evaluation's tests: requests, and scores and greedy generations computed
directly (no key/value cache, one request at a time) with an attachment prepended."""

import pytest
import torch
from lm_eval.api.instance import Instance

from promot_bench.evaluate.prompt_lm import PromptLM

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
        start = prompt.output_positions + n_ctx - 1  # a key/value prefix has no columns
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


class NoPrompt:
    """`greedy_reference` with nothing prepended."""

    output_positions = 0

    def prepend(self, model, input_ids, attention_mask=None, labels=None, **passthrough):
        return {"input_ids": input_ids, **passthrough}
