"""Training configuration: one dataclass naming every hyperparameter, presets as YAML files
(benchmark/presets/<name>.yaml), and `--key value` overrides from the command line.
The resolved config is written next to every result it produced."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from promot_bench.errors import UsageError, choices_text

PRESETS_DIR = Path(__file__).parent / "presets"
DEFAULT_PRESET = "cpu-small"


MAX_COUNT = 10_000_000


@dataclass
class TrainConfig:
    # optimisation (shared by every stage)
    optimizer: str = "adamw"  # adamw | adafactor
    batch_size: int = 8
    grad_accum: int = 1
    schedule: str = "constant"  # constant | linear (decays to 0 at the stage's last step)
    warmup_steps: int = 0
    clip_norm: float = 1.0
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    dropout: float = 0.0  # every dropout rate of the model while training (the study: 0.1)
    max_length: int = 256  # tokens per training example (prompt + target), longer ones are cut
    seed: int = 0
    # fp32, or bf16 mixed precision (autocast: weights, gradients and optimizer state stay fp32,
    # matmuls run in bf16 -- AMX units on recent Xeons, tensor cores on GPUs)
    precision: str = "fp32"
    # model tuning (ft and the second stage of promot)
    lr: float = 5e-5
    steps: int = 40
    checkpoint_every: int = 20
    # prompt tuning (pt and the first stage of promot)
    prompt_lr: float = 3e-2
    prompt_steps: int = 40
    prompt_checkpoint_every: int = 20
    prompt_length: int = 20
    prompt_init: str = "vocab"  # vocab | text | random
    prompt_init_text: str = "Decide whether the statement is true or false."
    # keep the checkpoint with the best target validation score (as the study did)
    keep_best: bool = True
    # LoRA (lora, lora-then-ft)
    lora_rank: int = 4
    lora_alpha: int = 8
    lora_lr: float = 1e-3
    lora_steps: int = 40
    # wise-ft: weights = (1 - alpha) * pretrained + alpha * fine-tuned
    wise_alpha: float = 0.5
    # the most steps a stage of this preset may be given (--steps, --set steps=...): a typo like
    # --steps 40000 on a laptop is refused rather than left running for days
    max_steps: int = MAX_COUNT

    CHOICES = {
        "optimizer": ("adamw", "adafactor"),
        "schedule": ("constant", "linear"),
        "prompt_init": ("vocab", "text", "random"),
        "precision": ("fp32", "bf16"),
    }

    def validate(self) -> "TrainConfig":
        for key, allowed in self.CHOICES.items():
            if getattr(self, key) not in allowed:
                raise UsageError(
                    f"{key} '{getattr(self, key)}' is not one of: {choices_text(allowed)}"
                )
        for key in (
            "batch_size",
            "grad_accum",
            "steps",
            "prompt_steps",
            "prompt_length",
            "checkpoint_every",
            "prompt_checkpoint_every",
            "max_length",
            "lora_rank",
            "lora_steps",
            "max_steps",
        ):
            if getattr(self, key) < 1:
                raise UsageError(f"{key} must be at least 1, got {getattr(self, key)}")
            # an oversized value would only fail later, less clearly
            if getattr(self, key) > MAX_COUNT:
                raise UsageError(
                    f"{key} must be at most {MAX_COUNT:,}, got {str(getattr(self, key))[:20]}..."
                )
        for key in BUDGET_KEYS[:3]:
            if getattr(self, key) > self.max_steps:
                raise UsageError(
                    f"{key} {getattr(self, key):,} is above this preset's cap (max_steps "
                    f"{self.max_steps:,}); raise it with --set max_steps=N if you mean it"
                )
        for key in ("lr", "prompt_lr", "lora_lr"):
            value = getattr(self, key)
            if not value > 0 or value != value or value == float("inf"):
                raise UsageError(f"{key} must be a positive finite number, got {value}")
        if not 0.0 <= self.wise_alpha <= 1.0:
            raise UsageError(f"wise_alpha must be within [0, 1], got {self.wise_alpha}")
        if not 0.0 <= self.dropout < 1.0:
            raise UsageError(f"dropout must be within [0, 1), got {self.dropout}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise UsageError(f"label_smoothing must be within [0, 1), got {self.label_smoothing}")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# What a cell's training budget is: each stage's length, and whether the best checkpoint or the
# final weights are kept. A budget other than the preset's own is a cell dimension (its path).
BUDGET_KEYS = ("steps", "prompt_steps", "lora_steps", "keep_best")


def budget_label(cfg: TrainConfig, preset: TrainConfig) -> str | None:
    """None for the preset's own budget; else e.g. "steps640" (every stage 640 steps, final
    weights), "steps640-best" (keep-best), "steps640-200-640" (model, prompt, LoRA stages)."""
    if all(getattr(cfg, k) == getattr(preset, k) for k in BUDGET_KEYS):
        return None
    lengths = {cfg.steps, cfg.prompt_steps, cfg.lora_steps}
    steps = (
        str(cfg.steps) if len(lengths) == 1 else f"{cfg.steps}-{cfg.prompt_steps}-{cfg.lora_steps}"
    )
    return f"steps{steps}" + ("-best" if cfg.keep_best else "")


def variant(preset: str, budget: str | None) -> str | None:
    """A cell's setting where it is not the default preset's own: the preset, the budget label,
    joined ("cpu-study-steps640"); None for the default preset at its own budget. Its folder
    below the tuner's, and its own leaderboard table."""
    return "-".join(p for p in (preset if preset != DEFAULT_PRESET else None, budget) if p) or None


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def load_preset(name: str, overrides: dict | None = None) -> TrainConfig:
    """The preset's values over the dataclass defaults, then `overrides` over both."""
    import yaml

    path = PRESETS_DIR / f"{name}.yaml"
    if not path.is_file():
        raise UsageError(f"unknown preset '{name}': choose from {choices_text(preset_names())}")
    values = yaml.safe_load(path.read_text()) or {}
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise UsageError(
            f"unknown setting(s) {choices_text(unknown)}: valid are {choices_text(fields)}"
        )
    typed = {}
    for key, value in values.items():
        kind = type(getattr(TrainConfig, key))
        try:
            typed[key] = _coerce(kind, value)
        except (TypeError, ValueError):
            raise UsageError(f"setting {key}: expected {kind.__name__}, got {value!r}") from None
    return TrainConfig(**typed).validate()


def _coerce(kind: type, value):
    if kind is bool and isinstance(value, str):
        if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(value)
        return value.lower() in ("true", "1", "yes")
    return kind(value)
