"""`peft:<method>`: PEFT's weight-adapter methods as tuners, built from PEFT's own config classes
and `get_peft_model` (nothing re-implemented): the adapter trains with the model frozen, then is
merged into the weights, as `lora` is — the adapter is the tuning, so it stays for every
evaluation, and the merged weights evaluate as fast as the plain model.

A method's options are its PEFT config's fields: `--set peft_options=r=8,lora_alpha=16` (values
read as YAML scalars), checked against the config class before anything loads; its defaults,
small adapters for a 135 M model, are `METHODS`' (a preset may override them the same way).

`promot:<method>` is ProMoT with the method's adapter as its first stage in place of the soft
prompt (the study's `lora-then-ft` generalised): the adapter trains, model frozen; then every
base weight trains with the adapter attached and frozen; the target is scored with the adapter,
the retention probes on the weights without it.

Left out: AdaLoRA (its rank budget is re-allocated by a call at every step, which the shared loop
does not make), the prompt-learning methods (prompt tuning is `pt` and ProMoT's first stage,
checked equal to PEFT's; prefix tuning and P-tuning are not implemented here) and methods that
do not wrap a causal LM's linear layers.
"""

from __future__ import annotations

import dataclasses

from promot_bench.config import Count, Options, Rate
from promot_bench.errors import UsageError, choices_text
from promot_bench.train.training import Stage

from .base import FitContext, Tuned, Tuner

# method -> (PEFT config class, our defaults over PEFT's)
METHODS = {
    "lora": ("LoraConfig", {"r": 4, "lora_alpha": 8}),
    "dora": ("LoraConfig", {"r": 4, "lora_alpha": 8, "use_dora": True}),
    "rslora": ("LoraConfig", {"r": 4, "lora_alpha": 8, "use_rslora": True}),
    "pissa": ("LoraConfig", {"r": 4, "lora_alpha": 8, "init_lora_weights": "pissa"}),
    "ia3": ("IA3Config", {}),
    "oft": ("OFTConfig", {"r": 0, "oft_block_size": 16}),
    "boft": ("BOFTConfig", {"boft_block_size": 4}),
    "vera": ("VeraConfig", {"r": 16}),
    "loha": ("LoHaConfig", {"r": 4, "alpha": 8}),
    "lokr": ("LoKrConfig", {"r": 4, "alpha": 8}),
    "hra": ("HRAConfig", {"r": 8}),
    "miss": ("MissConfig", {"r": 16}),
    "road": ("RoadConfig", {"variant": "road_1", "group_size": 16}),
}
PREFIX = "peft:"
PROMOT_PREFIX = "promot:"
# ProMoT's first stage can be any method but PiSSA: its initialisation moves the weights' principal
# part into the adapter, so the weights without the adapter (what the probes score) are not a
# model at all
PROMOT_METHODS = tuple(m for m in METHODS if m != "pissa")


class PeftOptions(Options):
    """A PEFT method's training stage and the fields its config is given beyond our defaults."""

    peft_lr: Rate = 1e-3
    peft_steps: Count = 40
    peft_options: str = ""  # "key=value,key=value": fields of the method's PEFT config

    STEPS = ("peft_steps",)


def parse_options(text: str) -> dict:
    """ "r=8,lora_alpha=16" -> {"r": 8, "lora_alpha": 16} (values as YAML scalars)."""
    import yaml

    found = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"peft_options expects key=value pairs, got '{part}'")
        found[key.strip()] = yaml.safe_load(value)
    return found


def peft_config(method: str, text: str = ""):
    """The method's PEFT config: our defaults, then `text`'s fields, each checked to be one of
    the config class's (one line naming the field and the choices where it is not)."""
    import peft

    name, defaults = METHODS[method]
    kind = getattr(peft, name)
    given = parse_options(text)
    fields = {f.name for f in dataclasses.fields(kind) if f.init}
    unknown = sorted(set(given) - fields)
    if unknown:
        raise UsageError(
            f"peft:{method}: {name} has no field {', '.join(unknown)}: "
            f"choose from {choices_text(sorted(fields))}"
        )
    try:
        return kind(task_type="CAUSAL_LM", **{**defaults, **given})
    except (TypeError, ValueError) as exc:
        raise UsageError(f"peft:{method}: {name} refuses these options: {exc}") from None


def wrap(ctx: FitContext, method: str):
    """The model wrapped with the method's adapter (PEFT's `get_peft_model`) and the adapter's
    tensors at the adapter's rate: what `get_peft_model` left trainable."""
    from peft import get_peft_model

    try:
        wrapped = get_peft_model(ctx.model, peft_config(method, ctx.options.peft_options))
    except UsageError:
        raise
    except (ValueError, TypeError, RuntimeError) as exc:  # e.g. no module it can wrap
        raise UsageError(f"peft:{method} cannot apply to this model: {exc}") from None
    adapter = {
        name: (param, ctx.options.peft_lr)
        for name, param in wrapped.named_parameters()
        if param.requires_grad
    }
    return wrapped, adapter


class PeftTuner(Tuner):
    """One PEFT method (`method`): its adapter trains, model frozen, then merges."""

    method: str = ""
    Options = PeftOptions
    dose_setting = "peft_steps"
    lr_setting = "peft_lr"
    attached_in_training = "the method's adapter"
    attached_at_target_eval = "nothing (merged)"

    @classmethod
    def check(cls, settings) -> None:
        peft_config(cls.method, settings.of(PeftOptions).peft_options)

    def fit(self, ctx: FitContext) -> Tuned:
        wrapped, adapter = wrap(ctx, self.method)
        stage = Stage("peft", ctx.options.peft_steps, ctx.cfg.checkpoint_every, adapter)
        report = ctx.train(stage, model=wrapped)
        return Tuned(wrapped.merge_and_unload(), reports=[report])


class PromotPeft(PeftTuner):
    """ProMoT with a PEFT method's adapter as its first stage in place of the soft prompt (the
    generalisation of the study's `lora-then-ft`): the adapter trains with the model frozen,
    then every base weight trains with the adapter attached and frozen; the target is scored
    with the adapter, the retention probes without it (`unload`: removed, not merged)."""

    dose_setting = "steps"  # the model stage, as ProMoT's
    lr_setting = "lr"
    attached_in_training = "the method's adapter (frozen in stage 2)"
    attached_at_target_eval = "the method's adapter"

    def fit(self, ctx: FitContext) -> Tuned:
        wrapped, adapter = wrap(ctx, self.method)
        first = ctx.train(
            Stage("peft", ctx.options.peft_steps, ctx.cfg.checkpoint_every, adapter),
            model=wrapped,
        )
        weights = {
            name: (param, ctx.cfg.lr)
            for name, param in wrapped.named_parameters()
            if name not in adapter
        }
        second = ctx.train(
            Stage("model", ctx.cfg.steps, ctx.cfg.checkpoint_every, weights), model=wrapped
        )
        return Tuned(wrapped, reports=[first, second], strip=lambda model: model.unload())


def tuners() -> dict[str, type[Tuner]]:
    """`peft:<method>` for every method and `promot:<method>` for every method whose
    initialisation leaves the base weights as they were, each its own registered class."""
    made = {}
    for method, (config, _) in METHODS.items():
        made[PREFIX + method] = type(
            f"Peft_{method}",
            (PeftTuner,),
            {
                "name": PREFIX + method,
                "method": method,
                "summary": f"PEFT {config} ({method}), merged into the weights",
                "trains": f"a {method} adapter (merged afterwards)",
            },
        )
    for method in PROMOT_METHODS:
        made[PROMOT_PREFIX + method] = type(
            f"Promot_{method}",
            (PromotPeft,),
            {
                "name": PROMOT_PREFIX + method,
                "method": method,
                "summary": f"ProMoT with a {method} adapter (PEFT) as its first stage",
                "trains": f"a {method} adapter (stage 1), then all model weights (stage 2)",
            },
        )
    return made
