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

AdaLoRA re-allocates its rank budget at every step and regularises its factors towards
orthogonality: its stage carries hooks the shared loop calls (`AdaLoraHooks`), its schedule runs
over the stage's own steps (`total_step`), and its allocator's state goes into every checkpoint.

The prompt-learning methods are tuners of their own (`peft_prompts.py`: P-tuning and prefix
tuning; prompt tuning is `pt` and ProMoT's first stage, checked equal to PEFT's). Left out:
methods that do not wrap a causal LM's linear layers.
"""

from __future__ import annotations

import dataclasses

from promot_bench import processes
from promot_bench.config import Count, Options, Rate
from promot_bench.errors import UsageError, choices_text
from promot_bench.train.stage_hooks import OneProcessHooks
from promot_bench.train.training import Stage

from .base import FitContext, Tuned, Tuner

# method -> (PEFT config class, our defaults over PEFT's)
METHODS = {
    "lora": ("LoraConfig", {"r": 4, "lora_alpha": 8}),
    # rank 8 per matrix at first, 4 on average at the end; total_step: the stage's steps
    "adalora": ("AdaLoraConfig", {"init_r": 8, "target_r": 4, "lora_alpha": 8}),
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
# PEFT's prompt-learning methods beyond prompt tuning (`pt`): tuners of their own
# (peft_prompts.py); P-tuning's encoder at the hidden size PEFT's own examples use
PROMPT_METHODS = {
    "p_tuning": ("PromptEncoderConfig", {"num_virtual_tokens": 20, "encoder_hidden_size": 128}),
    "prefix_tuning": ("PrefixTuningConfig", {"num_virtual_tokens": 20}),
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


def peft_config(method: str, text: str = "", steps: int = 1):
    """The method's PEFT config for a stage of `steps`: our defaults, then `text`'s fields, each
    checked to be one of the config class's (one line naming the field and the choices where it
    is not)."""
    import peft

    name, defaults = {**METHODS, **PROMPT_METHODS}[method]
    if name == "AdaLoraConfig":
        defaults = {**defaults, "total_step": steps}
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
    """The model wrapped with the method's adapter (PEFT's `get_peft_model`), the adapter's
    tensors at the adapter's rate (what `get_peft_model` left trainable), and the model's own
    weights by their wrapped names (not the adapter's constants, such as AdaLoRA's rank count)."""
    from peft import get_peft_model

    config = peft_config(method, ctx.options.peft_options, ctx.options.peft_steps)
    own = {id(param) for param in ctx.model.parameters()}
    try:
        wrapped = get_peft_model(ctx.model, config)
    except UsageError:
        raise
    except (ValueError, TypeError, RuntimeError) as exc:  # e.g. no module it can wrap
        raise UsageError(f"peft:{method} cannot apply to this model: {exc}") from None
    adapter = {
        name: (param, ctx.options.peft_lr)
        for name, param in wrapped.named_parameters()
        if param.requires_grad
    }
    weights = {name: p for name, p in wrapped.named_parameters() if id(p) in own}
    return wrapped, adapter, weights


class AdaLoraHooks(OneProcessHooks):
    """AdaLoRA's work at every step, as PEFT's AdaLoraModel asks of a training loop: the
    orthogonal regulariser its own forward adds when it computes the loss (ours does not), and
    `update_and_allocate` after the optimizer's step; the allocator's running importance
    scores and the rank pattern are its state."""

    KEYS = ("ipt", "exp_avg_ipt", "exp_avg_unc")

    def __init__(self, wrapped):
        self.model = wrapped.base_model  # peft's AdaLoraModel
        self.config = self.model.peft_config[self.model.trainable_adapter_name]

    def loss_term(self):
        return self.config.orth_reg_weight * orthogonal_penalty(self.model)

    def after_step(self, step: int) -> None:
        self.model.update_and_allocate(step)

    def state(self) -> dict:
        allocator = self.model.rankallocator
        return {
            **{key: dict(getattr(allocator, key)) for key in self.KEYS},
            "rank_pattern": self.config.rank_pattern,
        }

    def load_state(self, state: dict) -> None:
        for key in self.KEYS:
            setattr(self.model.rankallocator, key, dict(state.get(key, {})))
        self.config.rank_pattern = state.get("rank_pattern")


def orthogonal_penalty(model):
    """AdaLoRA's regulariser as PEFT's AdaLoraModel.forward computes it: over the trained
    adapter's P (lora_A) and Q (lora_B) factors, the mean Frobenius distance of PPᵀ and QᵀQ from
    the identity (tests/tuners/test_peft_family.py checks it equals PEFT's own)."""
    import torch

    name, terms = model.trainable_adapter_name, []
    for key, p in model.model.named_parameters():
        if ("lora_A" in key or "lora_B" in key) and name in key and p.numel() > 0:
            cov = p @ p.T if "lora_A" in key else p.T @ p
            identity = torch.eye(cov.shape[0], dtype=cov.dtype, device=cov.device)
            terms.append(torch.linalg.matrix_norm(cov - identity))
    return sum(terms) / len(terms) if terms else 0.0


def adapter_stage(ctx: FitContext, method: str, wrapped, adapter: dict) -> Stage:
    """The stage that trains the method's adapter, with the method's hooks where it has some."""
    stage = Stage("peft", ctx.options.peft_steps, ctx.cfg.checkpoint_every, adapter)
    if METHODS[method][0] == "AdaLoraConfig":
        stage.hooks = AdaLoraHooks(wrapped)
    return stage


class PeftMethod(Tuner):
    """What every PEFT tuner shares: its method (`method`), trained in a stage of its own with
    the family's options, its config's fields checked before anything loads."""

    method: str = ""
    Options = PeftOptions
    dose_setting = "peft_steps"
    lr_setting = "peft_lr"

    @classmethod
    def check(cls, settings) -> None:
        options = settings.of(PeftOptions)
        peft_config(cls.method, options.peft_options, options.peft_steps)


class PeftTuner(PeftMethod):
    """One PEFT weight-adapter method: its adapter trains, model frozen, then merges."""

    attached_in_training = "the method's adapter"
    attached_at_target_eval = "nothing (merged)"

    @classmethod
    def check(cls, settings) -> None:
        super().check(settings)
        if METHODS[cls.method][0] != "AdaLoraConfig":
            return
        if settings.train.dose and cls.dosed_stage:
            raise UsageError(
                f"{cls.name}: AdaLoRA's rank schedule runs over its stage's own length, so "
                "checkpoints of one longer run are not shorter runs: set dose= (none) and give "
                "each budget its own run"
            )
        AdaLoraHooks.check(processes.launch_kind())

    dosed_stage = True  # the adapter's stage is the one a dose checkpoints

    def fit(self, ctx: FitContext) -> Tuned:
        wrapped, adapter, _ = wrap(ctx, self.method)
        report = ctx.train(adapter_stage(ctx, self.method, wrapped, adapter), model=wrapped)
        return Tuned(wrapped.merge_and_unload(), reports=[report])


class PromotPeft(PeftTuner):
    """ProMoT with a PEFT method's adapter as its first stage in place of the soft prompt (the
    generalisation of the study's `lora-then-ft`): the adapter trains with the model frozen,
    then every base weight trains with the adapter attached and frozen; the target is scored
    with the adapter, the retention probes without it (`unload`: removed, not merged)."""

    dose_setting = "steps"  # the model stage, as ProMoT's
    dosed_stage = False
    lr_setting = "lr"
    attached_in_training = "the method's adapter (frozen in stage 2)"
    attached_at_target_eval = "the method's adapter"

    def fit(self, ctx: FitContext) -> Tuned:
        wrapped, adapter, own = wrap(ctx, self.method)
        first = ctx.train(adapter_stage(ctx, self.method, wrapped, adapter), model=wrapped)
        weights = {name: (param, ctx.cfg.lr) for name, param in own.items()}
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
