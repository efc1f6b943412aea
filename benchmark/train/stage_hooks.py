"""What a stage's adapter adds to each step of the shared loop (train/training.py), where its
method needs more than a loss and an optimizer step (AdaLoRA: tuners/peft_family.py)."""

from __future__ import annotations

import torch

from promot_bench.errors import UsageError


class StageHooks:
    """The defaults add nothing. The state goes into every checkpoint, so a resumed stage
    continues exactly as an uninterrupted one."""

    def loss_term(self) -> torch.Tensor | float:
        """Added to every micro-batch's loss (a regulariser)."""
        return 0.0

    def after_step(self, step: int) -> None:
        """After the optimizer's step `step` (0-based), before the gradients are cleared."""

    def state(self) -> dict:
        return {}

    def load_state(self, state: dict) -> None:
        pass

    @classmethod
    def check(cls, parallel: str) -> None:
        """Refuse a launch (`parallel`: single, ddp, fsdp) the hooks cannot follow; a tuner asks
        before anything loads, the loop again when the stage starts."""


class OneProcessHooks(StageHooks):
    """Hooks that read whole tensors and their gradients: one process only."""

    @classmethod
    def check(cls, parallel: str) -> None:
        if parallel != "single":
            raise UsageError(
                f"a stage with its adapter's own work at every step trains in one process, "
                f"not under {parallel}: launch one process"
            )
