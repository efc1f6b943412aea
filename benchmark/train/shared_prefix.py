"""Training batches whose rows all begin alike — the soft prompt or key/value prefix,
promot-1shot's demonstration, an instruction such as "Translate English to French:" — run that
shared beginning once, at batch size 1, and let every row attend to its key/value cache.

The loss and its gradients equal those of the plain forward pass (tests/train/test_training.py
checks them against it); only the arithmetic is less: promot-1shot's rows are half
demonstration, and a soft prompt is computed once per batch instead of once per row.
Decoder-only models only (an encoder-decoder's shared encoder input is not a cache), and not for
multi-task prompt sets, where rows carry different prompts."""

from __future__ import annotations

import inspect

import torch

from promot_bench.train.train_data import IGNORE

MIN_SHARED = 16  # shorter shared beginnings save less than the extra forward call costs


def cache_argument(model) -> str | None:
    """The name under which the model's forward takes a key/value cache (it changed in
    transformers 5), or None when this path does not apply."""
    if model.config.is_encoder_decoder:
        return None
    if "logits_to_keep" not in inspect.signature(model.forward).parameters:
        return None
    return cache_keyword(model)


def cache_keyword(model) -> str | None:
    """The keyword of the model's forward that takes a key/value cache: `cache` (transformers
    5), `past_key_values` (earlier), or None."""
    parameters = inspect.signature(model.forward).parameters
    return next((name for name in ("cache", "past_key_values") if name in parameters), None)


def shared_length(
    input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor
) -> int:
    """How many leading tokens every row has in common, stopping before the position whose
    logits predict the first target token of any row (right-padded rows)."""
    same = (input_ids == input_ids[:1]).all(0) & attention_mask.bool().all(0)
    length = int(same.long().cumprod(0).sum())
    has_target = (labels != IGNORE).any(0).nonzero()
    first_target = int(has_target[0]) if len(has_target) else input_ids.shape[1]
    return max(0, min(length, first_target - 1))


def beginning_cache(model, shared_ids: torch.Tensor, attachment=None):
    """The key/value cache of [attachment; `shared_ids`] at batch size 1 (`shared_ids`: 1-D): the
    attachment's own `shared_cache` (a soft prompt's embeddings run in front of the tokens'; a
    key/value prefix starts the cache itself), or the tokens alone. None when the model
    returns no cache."""
    if attachment is not None:
        return attachment.shared_cache(model, shared_ids)
    return embedded_cache(model, None, shared_ids)


def embedded_cache(model, weight: torch.Tensor | None, shared_ids: torch.Tensor):
    """The cache of [`weight`'s embeddings; `shared_ids`'] at batch size 1."""
    embeds = model.get_input_embeddings()(shared_ids[None])
    if weight is not None:
        embeds = torch.cat([weight.to(embeds.dtype)[None], embeds], dim=1)
    out = model(inputs_embeds=embeds, use_cache=True, logits_to_keep=1)
    return getattr(out, cache_argument(model), None)


def loss(model, batch: dict, soft_prompt, label_smoothing: float) -> torch.Tensor | None:
    """The batch's mean target-token cross-entropy through the shared-prefix path, or None
    when the batch or model does not qualify (the caller then takes the plain path)."""
    argument = cache_argument(model)
    ids, mask, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
    if argument is None or ids.shape[0] < 2:
        return None
    n = shared_length(ids, mask, labels)
    width = n + (soft_prompt.length if soft_prompt is not None else 0)
    # a soft prompt's positions run once instead of once a row; a key/value prefix runs in none
    if n + (soft_prompt.output_positions if soft_prompt is not None else 0) < MIN_SHARED:
        return None
    cache = beginning_cache(model, ids[0, :n], soft_prompt)
    if cache is None:
        return None
    cache.batch_repeat_interleave(ids.shape[0])

    rest_ids, rest_labels = ids[:, n:], labels[:, n:]
    full_mask = torch.cat([mask.new_ones(ids.shape[0], width), mask[:, n:]], dim=1)
    positions = torch.arange(width, width + rest_ids.shape[1], device=ids.device).expand(
        ids.shape[0], -1
    )
    # Position j of the rest predicts rest token j + 1; only those predicting a target matter.
    targets = rest_labels[:, 1:]
    keep = (targets != IGNORE).any(0).nonzero().squeeze(-1)
    out = model(
        input_ids=rest_ids,
        attention_mask=full_mask,
        position_ids=positions,
        logits_to_keep=keep,
        **{argument: cache},
    )
    logits = out.logits
    return torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(),
        targets[:, keep].reshape(-1),
        ignore_index=IGNORE,
        label_smoothing=label_smoothing,
    )
