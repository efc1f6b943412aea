"""The loss the training loop computes: the shared-prefix path (the rows' common beginning run
once, its cache reused) and the logits-only-where-needed path equal the plain forward pass in
loss and gradients."""

import pytest
import torch

from promot_bench.train import loss, shared_prefix, training
from promot_bench.train.soft_prompt import SoftPrompt
from promot_bench.train.train_data import Example, collate, encode

DEMO = (
    "Q: What is the capital of France? A: Paris\n\nQ: What is the capital of Spain? A: Madrid\n\n"
)
EXAMPLES = [
    Example(DEMO + f"Q: What is the capital of country number {i}? A:", f" City {i}")
    for i in range(4)
]


def reference_loss(model, batch, soft_prompt=None):
    """The textbook computation: full logits everywhere, shifted, mean over target tokens."""
    inputs = loss.model_inputs(model, batch, soft_prompt)
    labels = inputs.pop("labels")
    logits = model(**inputs).logits[:, :-1]
    return torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100
    )


def gradients(model, prompt=None):
    grads = {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}
    if prompt is not None:
        grads["prompt"] = prompt.weight.grad.clone()
    return grads


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
@pytest.mark.parametrize("with_prompt", [False, True])
def test_shared_prefix_loss_and_gradients_equal_the_plain_pass(arch, with_prompt, request):
    loaded = request.getfixturevalue(arch)
    model, tok = loaded.model, loaded.tokenizer
    prompt = SoftPrompt.from_vocab(model, 5, seed=0) if with_prompt else None
    rows = [encode(tok, ex, False, 256) for ex in EXAMPLES]
    batch = collate(rows, tok.pad_token_id)
    n = shared_prefix.shared_length(batch["input_ids"], batch["attention_mask"], batch["labels"])
    assert n >= shared_prefix.MIN_SHARED  # the demonstration is shared: the fast path applies

    results = []
    for compute in (reference_loss, loss.compute_loss):
        model.zero_grad(set_to_none=True)
        if prompt is not None:
            prompt.weight.grad = None
        value = compute(model, batch, prompt)
        value.backward()
        results.append((value.detach(), gradients(model, prompt)))
    (ref_loss, ref_grads), (ours, grads) = results
    assert torch.allclose(ours, ref_loss, atol=1e-5)
    assert grads.keys() == ref_grads.keys()
    for name in ref_grads:
        assert torch.allclose(grads[name], ref_grads[name], atol=1e-5, rtol=1e-4), name
    assert shared_prefix.loss(model, batch, prompt, 0.0) is not None  # and it did take that path
    model.zero_grad(set_to_none=True)


def test_shared_length_stops_before_the_first_target(llama):
    tok = llama.tokenizer
    rows = [
        encode(tok, Example("same words here", " a"), False, 64),
        encode(tok, Example("same words here", " b"), False, 64),
    ]
    batch = collate(rows, tok.pad_token_id)
    n = shared_prefix.shared_length(batch["input_ids"], batch["attention_mask"], batch["labels"])
    first_target = int((batch["labels"][0] != -100).nonzero()[0])
    assert n == first_target - 1  # the last prompt token's logits predict the target: not shared


def test_different_rows_take_the_plain_path(llama):
    tok = llama.tokenizer
    rows = [encode(tok, Example(f"{i} different beginnings", " x"), False, 64) for i in range(3)]
    assert shared_prefix.loss(llama.model, collate(rows, tok.pad_token_id), None, 0.0) is None


def test_dropout_setting_reaches_every_dropout(gpt2):
    model = gpt2.model
    training.set_dropout(model, 0.3)
    rates = [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    assert rates and set(rates) == {0.3}
    training.set_dropout(model, 0.0)
    assert {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)} == {0.0}


def test_bf16_precision_runs_matmuls_in_bf16_and_keeps_fp32_weights(tiny_llama_dir, tmp_path):
    from helpers.tiny_models import livened

    from promot_bench.config import TrainConfig
    from promot_bench.models import specs
    from promot_bench.tuners.base import FitContext, model_stage

    runs = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        loaded = livened(specs.load_from_path(tiny_llama_dir))
        seen = []
        first_linear = next(m for m in loaded.model.modules() if isinstance(m, torch.nn.Linear))
        first_linear.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
        cfg = TrainConfig(
            batch_size=4, steps=3, checkpoint_every=3, lr=1e-3, keep_best=False, precision=precision
        )
        ctx = FitContext(
            loaded.model, loaded.tokenizer, EXAMPLES * 2, cfg, tmp_path / precision, progress=False
        )
        report = ctx.train(model_stage(ctx))
        runs[precision] = [loss for _, loss in report.history]
        assert {p.dtype for p in loaded.model.parameters()} == {torch.float32}
        assert set(seen) == {torch.bfloat16 if precision == "bf16" else torch.float32}
    assert runs["bf16"] == pytest.approx(runs["fp32"], rel=3e-2)
    assert runs["bf16"] != runs["fp32"]
