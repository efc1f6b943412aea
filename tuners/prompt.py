"""What the soft-prompt tuners share (pt, promot, promot-1shot, joint, ft-random-prompt): their
options, a new soft prompt (one per target task in multi-task training), and the prompt-tuning
stage."""

from __future__ import annotations

from typing import Literal

from promot_bench.config import Count, Options, Rate
from promot_bench.train.soft_prompt import PromptSet, SoftPrompt
from promot_bench.train.training import Stage

from .base import FitContext


class PromptOptions(Options):
    """The soft prompt and its training (pt, and the first stage of promot)."""

    prompt_lr: Rate = 3e-2
    prompt_steps: Count = 40
    prompt_checkpoint_every: Count = 20
    prompt_length: Count = 20
    prompt_init: Literal["vocab", "text", "random"] = "vocab"
    prompt_init_text: str = "Decide whether the statement is true or false."

    STEPS = ("prompt_steps",)


def prompt_tensor(prompt, lr: float) -> dict:
    return {name: (tensor, lr) for name, tensor in prompt.tensors().items()}


def new_soft_prompt(ctx: FitContext, init: str | None = None):
    """A soft prompt; with several target tasks (multi-task training), one per task."""
    options, seed = ctx.options, ctx.cfg.seed
    init = init or options.prompt_init

    def make(seed: int):
        if init == "text":
            return SoftPrompt.from_text(
                ctx.model, ctx.tokenizer, options.prompt_init_text, options.prompt_length
            )
        if init == "random":
            return SoftPrompt.random(ctx.model, options.prompt_length, seed)
        return SoftPrompt.from_vocab(ctx.model, options.prompt_length, seed)

    tasks = ctx.tasks
    if len(tasks) == 1:
        return make(seed)
    return PromptSet({task: make(seed + i) for i, task in enumerate(tasks)})


def prompt_stage(ctx: FitContext, soft_prompt) -> Stage:
    return Stage(
        "prompt",
        ctx.options.prompt_steps,
        ctx.options.prompt_checkpoint_every,
        prompt_tensor(soft_prompt, ctx.options.prompt_lr),
        soft_prompt,
    )
