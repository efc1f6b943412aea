"""Gradient alignment, the study's probe of what training teaches: on one fixed batch, the cosine
between the gradient of the loss with the true labels and with the labels shuffled across the
batch's examples (same inputs), per parameter group of the last block (MLP; attention Q, K, V)
and over all parameters. Near 1: the gradient mostly teaches the answer's format, which
shuffled labels share."""

from __future__ import annotations

import random
import re
from dataclasses import replace

from promot_bench.train import loss
from promot_bench.train.train_data import Example, collate, encode


def shuffled_labels(examples: list[Example], seed: int) -> list[Example]:
    """The same inputs with the completions permuted among them: the format stays, the meaning
    goes."""
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    return [replace(ex, completion=examples[i].completion) for ex, i in zip(examples, order)]


def parameter_groups(model) -> dict[str, list[str]]:
    """Parameter names of the last block's MLP and attention Q, K, V (the study's choice),
    plus "all". The last block is the decoder's for encoder-decoders."""
    names = [n for n, _ in model.named_parameters()]
    blocks = {}
    for name in names:
        found = re.search(r"((?:decoder\.)?(?:layers|h|block)\.)(\d+)\.", name)
        if found:
            blocks.setdefault(found.group(1), set()).add(int(found.group(2)))
    if not blocks:
        return {"all": names}
    prefix = (
        "decoder.block."
        if "decoder.block." in blocks
        else max(blocks, key=lambda k: len(blocks[k]))
    )
    last = f"{prefix}{max(blocks[prefix])}."
    in_last = [n for n in names if last in n]
    patterns = {
        "mlp": r"\.(mlp|DenseReluDense|layer\.2)\.",
        "attn_q": r"(q_proj|\.q\.|query)",
        "attn_k": r"(k_proj|\.k\.|key)",
        "attn_v": r"(v_proj|\.v\.|value)",
    }
    groups = {g: [n for n in in_last if re.search(p, n)] for g, p in patterns.items()}
    groups = {g: ns for g, ns in groups.items() if ns}
    groups["all"] = names
    return groups


def gradients(model, tokenizer, examples: list[Example], soft_prompt, max_length: int) -> dict:
    """The gradient of the mean completion-token loss on `examples` (one batch), per parameter."""
    import torch

    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    was_training = model.training
    try:
        model.eval()  # no dropout: both gradients see the same network
        for p in model.parameters():
            p.requires_grad_(True)
        model.zero_grad(set_to_none=True)
        rows = [
            encode(tokenizer, ex, model.config.is_encoder_decoder, max_length) for ex in examples
        ]
        with torch.enable_grad():
            loss.compute_loss(model, collate(rows, tokenizer.pad_token_id), soft_prompt).backward()
        return {
            n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None
        }
    finally:
        model.zero_grad(set_to_none=True)
        for n, p in model.named_parameters():
            p.requires_grad_(flags[n])
        model.train(was_training)


def cosines(
    true_grads: dict, shuffled_grads: dict, groups: dict[str, list[str]]
) -> dict[str, float | None]:
    import torch

    out = {}
    for group, names in groups.items():
        names = [n for n in names if n in true_grads and n in shuffled_grads]
        if not names:
            out[group] = None
            continue
        a = torch.cat([true_grads[n].flatten().double() for n in names])
        b = torch.cat([shuffled_grads[n].flatten().double() for n in names])
        denominator = a.norm() * b.norm()
        # clamped: rounding can put a parallel pair's cosine 1e-15 outside [-1, 1]
        out[group] = float((a @ b / denominator).clamp(-1.0, 1.0)) if denominator > 0 else None
    return out
