"""`peft:<method>` and `promot:<method>` for PEFT's prompt-learning methods beyond prompt tuning:
P-tuning and prefix tuning, as tuners and as ProMoT's first stage.

P-tuning trains a small encoder (PEFT's `PromptEncoder`: an embedding and an MLP) whose output is
the virtual tokens prepended to every input; prefix tuning trains every layer's keys and values
for its virtual positions (PEFT's `PrefixEncoder`), which go in front of the model's key/value
cache (`train/kv_prefix.py`). The model stays frozen. The tokens are PEFT's own
(`get_peft_model`, `PeftModel.get_prompt`); our loop trains them as it trains a soft prompt.
Once trained, they are computed one last time and kept as a plain soft prompt or key/value prefix
— what PEFT itself saves for inference — so every evaluation attaches them as it attaches `pt`'s.

`promot:<method>` is ProMoT with the method's tokens in place of the soft prompt: the encoder
trains with the model frozen, then every weight trains with the tokens attached and frozen.
"""

from __future__ import annotations

import torch
from torch import nn

from promot_bench.errors import UsageError
from promot_bench.train import kv_prefix
from promot_bench.train.kv_prefix import KVPrefix
from promot_bench.train.shared_prefix import embedded_cache
from promot_bench.train.soft_prompt import SoftPrompt, attach
from promot_bench.train.training import Stage

from .base import FitContext, Tuned, Tuner, model_stage
from .peft_family import PROMPT_METHODS, PeftMethod, peft_config


class PeftVirtualTokens(nn.Module):
    """A PEFT prompt-learning method's virtual tokens (its encoder trains; PEFT's `get_prompt`
    gives what they are now), as our loop and evaluation take an attachment."""

    def __init__(self, wrapped, method: str):
        super().__init__()
        self.encoder = wrapped.prompt_encoder[wrapped.active_adapter]  # what trains
        self._wrapped = (wrapped,)  # a tuple: the wrapper is not a submodule of the prompt
        self.method = method

    @property
    def length(self) -> int:
        return self._wrapped[0].active_peft_config.num_virtual_tokens

    def tensors(self) -> dict:
        return {f"{self.method}.{name}": p for name, p in self.encoder.named_parameters()}


class PeftPrompt(PeftVirtualTokens):
    """Tokens that are embeddings (P-tuning): `weight` [length, hidden], attached as a soft
    prompt is."""

    @property
    def weight(self) -> torch.Tensor:
        return self._wrapped[0].get_prompt(batch_size=1)[0]

    @property
    def output_positions(self) -> int:
        return self.length

    def prepend(self, model, input_ids, attention_mask=None, labels=None, **passthrough) -> dict:
        return attach(model, self.weight, input_ids, attention_mask, labels, **passthrough)

    def shared_cache(self, model, shared_ids: torch.Tensor):
        return embedded_cache(model, self.weight, shared_ids)

    def frozen(self) -> SoftPrompt:
        """The tokens as a plain soft prompt: what every evaluation attaches."""
        with torch.no_grad():
            return SoftPrompt(self.weight.detach().clone(), init=self.method)


class PeftPrefix(PeftVirtualTokens):
    """Tokens that are every layer's keys and values (prefix tuning): `weight` [layers, 2,
    heads, length, head size], attached as a `KVPrefix` is."""

    output_positions = 0

    @property
    def weight(self) -> torch.Tensor:
        layers = getattr(self._wrapped[0].get_prompt(batch_size=1), "layers", None)
        try:
            return torch.stack([torch.stack([layer.keys[0], layer.values[0]]) for layer in layers])
        except (TypeError, RuntimeError) as exc:  # not a cache of uniform layers
            raise UsageError(
                f"peft:{self.method}: PEFT's prefix for this model is not one "
                f"[layers, 2, heads, length, head size] tensor ({exc})"
            ) from None

    def prepend(self, model, input_ids, attention_mask=None, labels=None, **passthrough) -> dict:
        return kv_prefix.attach(
            model, self.weight, input_ids, attention_mask, labels, **passthrough
        )

    def shared_cache(self, model, shared_ids: torch.Tensor):
        return kv_prefix.shared_cache(model, self.weight, shared_ids)

    def frozen(self) -> KVPrefix:
        """The keys and values as a plain prefix: what every evaluation attaches."""
        with torch.no_grad():
            return KVPrefix(self.weight.detach().clone(), init=self.method)


def new_prompt(ctx: FitContext, method: str) -> PeftVirtualTokens:
    """The method's virtual tokens for `ctx.model`, from PEFT's `get_peft_model` (its config
    completed from the model's by PEFT itself; the model's weights are left as they are)."""
    from peft import PrefixTuningConfig, get_peft_model

    config = peft_config(method, ctx.options.peft_options, ctx.options.peft_steps)
    try:
        wrapped = get_peft_model(ctx.model, config)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise UsageError(f"peft:{method} cannot apply to this model: {exc}") from None
    if not isinstance(config, PrefixTuningConfig):
        return PeftPrompt(wrapped, method)
    prefix = PeftPrefix(wrapped, method)
    kv_prefix.check(ctx.model, prefix.weight)  # one line where PEFT's keys and values do not fit
    return prefix


def prompt_learning_stage(ctx: FitContext, prompt: PeftVirtualTokens) -> Stage:
    """The stage that trains the method's encoder, its tokens prepended, the model frozen."""
    lr = ctx.options.peft_lr
    trainable = {name: (p, lr) for name, p in prompt.tensors().items()}
    return Stage("peft", ctx.options.peft_steps, ctx.cfg.checkpoint_every, trainable, prompt)


class PeftPromptTuner(PeftMethod):
    """One PEFT prompt-learning method: its encoder trains, the model is frozen, and its tokens
    are attached for the target only (the probes score the model alone, as `pt`'s)."""

    multi_task = False  # one encoder: per-task prompts would need one each
    probes_attached = True
    attached_in_training = "the method's virtual tokens"
    attached_at_target_eval = "the method's virtual tokens"

    def fit(self, ctx: FitContext) -> Tuned:
        prompt = new_prompt(ctx, self.method)
        report = ctx.train(prompt_learning_stage(ctx, prompt))
        return Tuned(ctx.model, prompt.frozen(), reports=[report])


class PromotPeftPrompt(PeftPromptTuner):
    """ProMoT with the method's tokens in place of the soft prompt: the encoder trains (model
    frozen), then every weight with the tokens attached and frozen."""

    dose_setting = "steps"  # the model stage, as ProMoT's
    lr_setting = "lr"
    probes_attached = False  # its weights changed: the stripped probes are its retention

    def fit(self, ctx: FitContext) -> Tuned:
        prompt = new_prompt(ctx, self.method)
        first = ctx.train(prompt_learning_stage(ctx, prompt))
        tokens = prompt.frozen()
        second = ctx.train(model_stage(ctx, tokens))
        return Tuned(ctx.model, tokens, reports=[first, second])


def tuners() -> dict[str, type[Tuner]]:
    """`peft:<method>` and `promot:<method>` for every prompt-learning method."""
    made = {}
    for method, (config, _) in PROMPT_METHODS.items():
        for prefix, base, summary, trains in (
            (
                "peft:",
                PeftPromptTuner,
                f"PEFT {config} ({method}): its virtual tokens train, the model is frozen",
                f"a {method} prompt encoder",
            ),
            (
                "promot:",
                PromotPeftPrompt,
                f"ProMoT with {method}'s virtual tokens (PEFT) as its first stage",
                f"a {method} prompt encoder (stage 1), then all model weights (stage 2)",
            ),
        ):
            made[prefix + method] = type(
                f"{base.__name__}_{method}",
                (base,),
                {
                    "name": prefix + method,
                    "method": method,
                    "summary": summary,
                    "trains": trains,
                    "decoder_only": config == "PrefixTuningConfig",  # its prefix is a cache's
                },
            )
    return made
