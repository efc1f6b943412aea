"""The training loss: mean cross-entropy over target tokens, with a soft prompt (or key/value
prefix) attached where a stage has one. The loop (training.py) and the data-parallel strategies
(distributed.py) both call it; it lives apart so that neither has to import the other for it."""

from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F

from promot_bench.train import shared_prefix
from promot_bench.train.soft_prompt import PromptSet
from promot_bench.train.train_data import IGNORE


def model_inputs(model, batch: dict, soft_prompt=None) -> dict:
    tensors = {k: v for k, v in batch.items() if k != "tasks"}
    if soft_prompt is None:
        return tensors
    if isinstance(soft_prompt, PromptSet):
        return soft_prompt.prepend(model, **tensors, tasks=batch["tasks"])
    return soft_prompt.prepend(model, **tensors)


def compute_loss(
    model, batch: dict, soft_prompt=None, label_smoothing: float = 0.0
) -> torch.Tensor:
    """Mean cross-entropy over target tokens (labels != -100)."""
    # The shared-prefix path pays on CPUs (promot-1shot 1.66x per step); on a GPU, where small
    # batches are bound by kernel launches, it cost ProMoT's model stage 1.42x (H100,
    # results/bench/gpu-h100.json), so GPUs take the plain path.
    if not isinstance(soft_prompt, PromptSet) and batch["input_ids"].device.type == "cpu":
        shared = shared_prefix.loss(model, batch, soft_prompt, label_smoothing)
        if shared is not None:
            return shared
    return plain_loss(model, batch, soft_prompt, label_smoothing)


def plain_loss(model, batch: dict, soft_prompt=None, label_smoothing: float = 0.0) -> torch.Tensor:
    """`compute_loss` without reusing a shared beginning: every row runs in full."""
    inputs = model_inputs(model, batch, soft_prompt)
    labels = inputs.pop("labels")
    if model.config.is_encoder_decoder:
        # The model shifts labels into decoder inputs itself; logits then align with labels.
        logits = model(**inputs, labels=labels).logits
    else:
        labels = labels[:, 1:]  # the logits at position i predict token i + 1
        if accepts_logits_to_keep(model):
            # Only positions that predict a target token need the vocabulary projection: on the
            # embedded model that projection is a fifth of the FLOPs, and targets are short.
            keep = (labels != IGNORE).any(0).nonzero().squeeze(-1)
            logits, labels = model(**inputs, logits_to_keep=keep).logits, labels[:, keep]
        else:
            logits = model(**inputs).logits[:, :-1]
    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(),
        labels.reshape(-1),
        ignore_index=IGNORE,
        label_smoothing=label_smoothing,
    )


def accepts_logits_to_keep(model) -> bool:

    return "logits_to_keep" in inspect.signature(model.forward).parameters
