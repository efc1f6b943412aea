"""The optimizer a stage trains with (its tensors grouped by learning rate) and its schedule."""

from __future__ import annotations

from typing import Callable

import torch

from promot_bench.config import TrainConfig


def make_optimizer(cfg: TrainConfig, trainable: dict) -> torch.optim.Optimizer:
    groups: dict[float, list] = {}
    for tensor, lr in trainable.values():
        groups.setdefault(lr, []).append(tensor)
    param_groups = [{"params": params, "lr": lr} for lr, params in groups.items()]
    if cfg.optimizer == "adafactor":
        from transformers.optimization import Adafactor

        # The study's setting: a fixed learning rate, no relative-step or parameter scaling.
        return Adafactor(
            param_groups,
            scale_parameter=False,
            relative_step=False,
            warmup_init=False,
            weight_decay=cfg.weight_decay,
        )
    # `fused=True` only when asked (`adamw-fused`): it is 0.09 s instead of 0.40 s per step on the
    # embedded model's weights and its updates match the default's to float tolerance
    # (tests/train/test_optimizer.py), but the presets' committed cells ran without it
    # (benchmark/perf/README.md says why it was once reverted).
    fused = cfg.optimizer == "adamw-fused"
    return torch.optim.AdamW(param_groups, weight_decay=cfg.weight_decay, fused=fused or None)


def lr_factor(cfg: TrainConfig, steps: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        if cfg.schedule == "linear":
            return max(0.0, (steps - step) / max(1, steps - cfg.warmup_steps))
        return 1.0

    return factor
