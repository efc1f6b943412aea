"""Training settings: the loop's own (`TrainConfig`), each tuner's options (a dataclass beside
the tuner, e.g. `tuners.pt.PromptOptions`), presets as YAML files (benchmark/presets/<name>.yaml)
holding both under flat names, and `--set key=value` overrides from the command line. The
resolved settings are written, flat, next to every result they produced."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import ClassVar

from promot_bench.errors import UsageError, choices_text

PRESETS_DIR = Path(__file__).parent / "presets"
DEFAULT_PRESET = "cpu-small"


MAX_COUNT = 10_000_000


class Options:
    """A dataclass of settings checked by the rules its class declares: `TrainConfig`, and every
    tuner's options."""

    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {}
    COUNTS: ClassVar[tuple[str, ...]] = ()  # whole numbers, at least 1
    RATES: ClassVar[tuple[str, ...]] = ()  # positive finite numbers
    STEPS: ClassVar[tuple[str, ...]] = ()  # its stages' lengths: part of the training budget

    def validate(self):
        for key, allowed in self.CHOICES.items():
            if getattr(self, key) not in allowed:
                raise UsageError(
                    f"{key} '{getattr(self, key)}' is not one of: {choices_text(allowed)}"
                )
        for key in self.COUNTS:
            if getattr(self, key) < 1:
                raise UsageError(f"{key} must be at least 1, got {getattr(self, key)}")
            # an oversized value would only fail later, less clearly
            if getattr(self, key) > MAX_COUNT:
                raise UsageError(
                    f"{key} must be at most {MAX_COUNT:,}, got {str(getattr(self, key))[:20]}..."
                )
        for key in self.RATES:
            value = getattr(self, key)
            if not value > 0 or not math.isfinite(value):
                raise UsageError(f"{key} must be a positive finite number, got {value}")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class TrainConfig(Options):
    """The training loop's settings, shared by every tuner and stage, and the model stage's."""

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
    # model tuning (ft, the second stage of promot, and every tuner that trains the weights)
    lr: float = 5e-5
    steps: int = 40
    checkpoint_every: int = 20
    # keep the checkpoint with the best target validation score (as the study did)
    keep_best: bool = True
    # the most steps a stage of this preset may be given (--budget, --set steps=...): a typo like
    # --budget 40000 on a laptop is refused rather than left running for days
    max_steps: int = MAX_COUNT
    # the dose from checkpoints of one run: fractions of the tuner's last stage ("1/16,1/4") at
    # which retention is also scored, each as its own result (`dose_steps`); "" for none
    dose: str = ""

    CHOICES = {
        "optimizer": ("adamw", "adafactor"),
        "schedule": ("constant", "linear"),
        "precision": ("fp32", "bf16"),
    }
    COUNTS = ("batch_size", "grad_accum", "steps", "checkpoint_every", "max_length", "max_steps")
    RATES = ("lr",)
    STEPS = ("steps",)

    def validate(self) -> "TrainConfig":
        super().validate()
        if not 0.0 <= self.dropout < 1.0:
            raise UsageError(f"dropout must be within [0, 1), got {self.dropout}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise UsageError(f"label_smoothing must be within [0, 1), got {self.label_smoothing}")
        if self.dose:
            dose_fractions(self.dose)
            # a checkpoint means what a separate run of its length means only when the rate at a
            # step does not depend on the stage's length (warm-up depends on the step alone)
            if self.schedule != "constant":
                raise UsageError(
                    f"dose checkpoints need the constant schedule (with or without warm-up): under "
                    f"'{self.schedule}' a checkpoint is not what a run of its length would be"
                )
            if self.keep_best:
                raise UsageError(
                    "dose checkpoints score the weights at each checkpoint: set keep_best=false"
                )
        return self


def dose_fractions(text: str) -> list[Fraction]:
    """The dose checkpoints, as fractions of the last stage: distinct, each within (0, 1)."""
    try:
        fractions = [Fraction(part.strip()) for part in text.split(",")]
    except (ValueError, ZeroDivisionError):
        raise UsageError(
            f"dose expects comma-separated fractions of the budget like 1/16,1/4, got '{text}'"
        ) from None
    outside = [str(f) for f in fractions if not 0 < f < 1]
    if outside:
        raise UsageError(
            f"dose checkpoint(s) {', '.join(outside)} outside the budget: each must lie "
            "strictly between 0 and 1 (the whole budget is always scored)"
        )
    if len(set(fractions)) != len(fractions):
        raise UsageError(f"dose lists a checkpoint twice: '{text}'")
    return sorted(fractions)


def dose_steps(text: str, steps: int) -> list[int]:
    """The checkpoints' steps for a stage of `steps` (each rounded down, at least 1), then
    `steps` itself: the budgets a dose run scores, in training order."""
    return sorted({max(1, int(f * steps)) for f in dose_fractions(text)} - {steps}) + [steps]


@dataclass(frozen=True)
class Settings:
    """A preset resolved: the loop's settings and each tuner options class's values (a tuner
    reads its own; a result records them all, flat, under the names `--set` takes)."""

    train: TrainConfig
    tuner_options: tuple = ()  # one instance of each tuner option class, in registry order

    def of(self, kind: type | None):
        """The options of class `kind` (a tuner's `Options`); None for a tuner without any."""
        return next((o for o in self.tuner_options if type(o) is kind), None)

    def parts(self) -> tuple:
        return (self.train, *self.tuner_options)

    def to_dict(self) -> dict:
        return {k: v for part in self.parts() for k, v in part.to_dict().items()}

    def stage_lengths(self) -> dict[str, int]:
        """Every stage's length by its setting's name (model, then prompt, then LoRA...)."""
        return {k: getattr(p, k) for p in self.parts() for k in p.STEPS}

    def validate(self) -> "Settings":
        for part in self.parts():
            part.validate()
        for key, steps in self.stage_lengths().items():
            if steps > self.train.max_steps:
                raise UsageError(
                    f"{key} {steps:,} is above this preset's cap (max_steps "
                    f"{self.train.max_steps:,}); raise it with --set max_steps=N if you mean it"
                )
        return self


def step_keys(option_classes) -> tuple[str, ...]:
    """The settings that are stage lengths: what --budget sets."""
    return tuple(k for kind in (TrainConfig, *option_classes) for k in kind.STEPS)


def budget_label(settings: Settings, preset: Settings) -> str | None:
    """None for the preset's own budget; else e.g. "steps640" (every stage 640 steps, final
    weights), "steps640-best" (keep-best), "steps640-200-640" (model, prompt, LoRA stages)."""
    lengths, keep_best = settings.stage_lengths(), settings.train.keep_best
    if lengths == preset.stage_lengths() and keep_best == preset.train.keep_best:
        return None
    values = list(lengths.values())
    steps = str(values[0]) if len(set(values)) == 1 else "-".join(map(str, values))
    return f"steps{steps}" + ("-best" if keep_best else "")


def rate_label(settings: Settings, preset: Settings, setting: str) -> str | None:
    """None where the tuner's own learning rate (`setting`) is the preset's; else e.g.
    "lr1e-05" (two significant digits, so 1e-5 and 1.0e-5 name one cell)."""
    value = settings.to_dict()[setting]
    return None if value == preset.to_dict()[setting] else f"lr{value:.1e}".replace(".0e", "e")


def variant(preset: str, budget: str | None, rate: str | None = None) -> str | None:
    """A cell's setting where it is not the default preset's own: the preset, the learning rate
    and the budget labels, joined ("cpu-study-v2-lr1e-05-checkpoint28"); None for the default
    preset at its own rate and budget. Its folder below the tuner's, and its own leaderboard
    table."""
    parts = (preset if preset != DEFAULT_PRESET else None, rate, budget)
    return "-".join(p for p in parts if p) or None


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


# A preset's keys that are rules of its protocol, not training settings (`SeedRule`)
PROTOCOL_KEYS = ("seed_rule",)


def read_preset(name: str) -> dict:
    import yaml

    path = PRESETS_DIR / f"{name}.yaml"
    if not path.is_file():
        raise UsageError(f"unknown preset '{name}': choose from {choices_text(preset_names())}")
    return yaml.safe_load(path.read_text()) or {}


@dataclass(frozen=True)
class SeedRule:
    """How many seeds a protocol runs, written in its preset before the runs it governs: from a
    pilot's seed SD of the headline difference (`compare`: tuner minus baseline, per target),
    the fewest seeds whose t test reaches `power` for `effect` points, within [minimum, cap]."""

    pilot_seeds: tuple[int, ...]
    compare: tuple[str, str]
    targets: tuple[str, ...]
    effect: float
    power: float
    alpha: float
    minimum: int
    cap: int
    other_seeds: dict
    ablation_seeds: int


def seed_rule(preset: str) -> SeedRule:
    rule = read_preset(preset).get("seed_rule")
    if not rule:
        raise UsageError(f"preset '{preset}' writes no seed rule (seed_rule:)")
    try:
        return SeedRule(
            tuple(int(s) for s in rule["pilot_seeds"]),
            tuple(rule["compare"]),
            tuple(rule["targets"]),
            float(rule["effect"]),
            float(rule["power"]),
            float(rule["alpha"]),
            int(rule["minimum"]),
            int(rule["cap"]),
            dict(rule.get("other_seeds") or {}),
            int(rule.get("ablation_seeds", 0)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"preset '{preset}': its seed_rule is malformed ({exc})") from None


def load_preset(name: str, overrides: dict | None = None, option_classes: tuple = ()) -> Settings:
    """The preset's values over the dataclasses' defaults, then `overrides` over both;
    `option_classes` are the tuners' (`tuners.OPTION_CLASSES`), each given the keys it declares."""
    values = read_preset(name)
    for key in PROTOCOL_KEYS:  # the protocol's rules beside the settings, not settings
        values.pop(key, None)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    kinds = (TrainConfig, *option_classes)
    owner = {f.name: kind for kind in kinds for f in dataclasses.fields(kind)}
    unknown = sorted(set(values) - set(owner))
    if unknown:
        raise UsageError(
            f"unknown setting(s) {choices_text(unknown)}: valid are {choices_text(owner)}"
        )
    typed: dict[type, dict] = {kind: {} for kind in kinds}
    for key, value in values.items():
        kind = type(getattr(owner[key], key))
        try:
            typed[owner[key]][key] = _coerce(kind, value)
        except (TypeError, ValueError):
            raise UsageError(f"setting {key}: expected {kind.__name__}, got {value!r}") from None
    train, *options = (kind(**typed[kind]) for kind in kinds)
    return Settings(train, tuple(options)).validate()


def _coerce(kind: type, value):
    if kind is bool and isinstance(value, str):
        if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(value)
        return value.lower() in ("true", "1", "yes")
    return kind(value)
