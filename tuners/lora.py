"""`lora` and `lora-then-ft` (LoRA through PEFT).

`lora` is LoRA fine-tuning: the adapter is the tuning, so it is merged into the weights and
stays for every evaluation. `lora-then-ft` is the study's appendix variant of ProMoT with a
LoRA adapter in place of the soft prompt: stage 1 trains the adapter (model frozen), stage 2
fine-tunes the model with the adapter attached and frozen, and the adapter is removed for the
retention probes (kept for the target task), as ProMoT removes its prompt.
"""

from promot_bench.config import Count, Options, Rate
from promot_bench.train.training import Stage

from .base import FitContext, Tuned, Tuner


class LoRAOptions(Options):
    """The adapter and its training stage."""

    lora_rank: Count = 4
    lora_alpha: int = 8
    lora_lr: Rate = 1e-3
    lora_steps: Count = 40

    STEPS = ("lora_steps",)


def attach_lora(ctx: FitContext):
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=ctx.options.lora_rank, lora_alpha=ctx.options.lora_alpha, lora_dropout=0.0
    )
    return get_peft_model(ctx.model, config)


def lora_stage(ctx: FitContext, wrapped) -> Stage:
    adapter = {
        name: (p, ctx.options.lora_lr) for name, p in wrapped.named_parameters() if "lora_" in name
    }
    return Stage("lora", ctx.options.lora_steps, ctx.cfg.checkpoint_every, adapter)


class LoRA(Tuner):
    name = "lora"
    summary = "LoRA fine-tuning (PEFT), merged into the weights"
    trains = "a LoRA adapter (merged afterwards)"
    attached_in_training = "LoRA adapter"
    attached_at_target_eval = "nothing (merged)"
    Options = LoRAOptions
    dose_setting = "lora_steps"
    lr_setting = "lora_lr"

    def fit(self, ctx: FitContext) -> Tuned:
        wrapped = attach_lora(ctx)
        report = ctx.train(lora_stage(ctx, wrapped), model=wrapped)
        return Tuned(wrapped.merge_and_unload(), reports=[report])


class LoRAThenFineTuning(Tuner):
    name = "lora-then-ft"
    summary = "appendix variant: LoRA in stage 1 instead of a soft prompt, then fine-tuning with it"
    trains = "LoRA adapter (stage 1), then all model weights (stage 2)"
    attached_in_training = "LoRA adapter (frozen in stage 2)"
    attached_at_target_eval = "LoRA adapter"
    Options = LoRAOptions

    def fit(self, ctx: FitContext) -> Tuned:
        wrapped = attach_lora(ctx)
        first = ctx.train(lora_stage(ctx, wrapped), model=wrapped)
        weights = {
            name: (p, ctx.cfg.lr) for name, p in wrapped.named_parameters() if "lora_" not in name
        }
        second = ctx.train(
            Stage("model", ctx.cfg.steps, ctx.cfg.checkpoint_every, weights), model=wrapped
        )
        # unload() removes the adapter layers without merging them: the tuned weights alone.
        return Tuned(wrapped, reports=[first, second], strip=lambda model: model.unload())
