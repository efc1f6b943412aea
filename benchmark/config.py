"""Training settings: the loop's own (`TrainConfig`), each tuner's options (a pydantic model beside
the tuner, e.g. `tuners.pt.PromptOptions`), presets as YAML files (benchmark/presets/<name>.yaml)
holding both under flat names, and `--set key=value` overrides from the command line. The
resolved settings are written, flat, next to every result they produced."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from promot_bench.errors import UsageError, choices_text

PRESETS_DIR = Path(__file__).parent / "presets"
DEFAULT_PRESET = "cpu-small"


MAX_COUNT = 10_000_000  # an oversized count would only fail later, less clearly
Count = Annotated[int, Field(ge=1, le=MAX_COUNT)]  # whole numbers, at least 1
Rate = Annotated[float, Field(gt=0, allow_inf_nan=False)]  # positive finite numbers


class Options(BaseModel):
    """Settings typed and bounded by their fields (pydantic): `TrainConfig`, and every tuner's
    options. A value from a preset or `--set` is coerced by the field's type ("8" -> 8,
    "false" -> False) and refused in one line (`load_preset`) where it does not fit."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, coerce_numbers_to_str=True)

    STEPS: ClassVar[tuple[str, ...]] = ()  # its stages' lengths: part of the training budget

    def to_dict(self) -> dict:
        return self.model_dump()


class TrainConfig(Options):
    """The training loop's settings, shared by every tuner and stage, and the model stage's."""

    # optimisation (shared by every stage)
    # adamw-fused: AdamW's fused kernel, the same update to float tolerance in a quarter of the
    # time (benchmark/perf/README.md); not the presets' default, whose cells ran without it
    optimizer: Literal["adamw", "adamw-fused", "adafactor"] = "adamw"
    batch_size: Count = 8
    grad_accum: Count = 1
    # constant, or linear (decays to 0 at the stage's last step)
    schedule: Literal["constant", "linear"] = "constant"
    warmup_steps: Annotated[int, Field(ge=0, le=MAX_COUNT)] = 0
    clip_norm: float = 1.0
    weight_decay: float = 0.0
    label_smoothing: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    # every dropout rate of the model while training (the study: 0.1)
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    max_length: Count = 256  # tokens per training example (prompt + target), longer ones are cut
    seed: int = 0
    # fp32, or bf16 mixed precision (autocast: weights, gradients and optimizer state stay fp32,
    # matmuls run in bf16 -- AMX units on recent Xeons, tensor cores on GPUs)
    precision: Literal["fp32", "bf16"] = "fp32"
    # model tuning (ft, the second stage of promot, and every tuner that trains the weights)
    lr: Rate = 5e-5
    steps: Count = 40
    checkpoint_every: Count = 20
    # keep the checkpoint with the best target validation score (as the study did)
    keep_best: bool = True
    # the most steps a stage of this preset may be given (--budget, --set steps=...): a typo like
    # --budget 40000 on a laptop is refused rather than left running for days
    max_steps: Count = MAX_COUNT
    # the dose from checkpoints of one run: fractions of the tuner's last stage ("1/16,1/4") at
    # which retention is also scored, each as its own result (`dose_steps`); "" for none
    dose: str = ""

    STEPS = ("steps",)

    @model_validator(mode="after")
    def _dose_needs_comparable_checkpoints(self) -> "TrainConfig":
        if self.dose:
            dose_fractions(self.dose)
            # a checkpoint means what a separate run of its length means only when the rate at a
            # step does not depend on the stage's length (warm-up depends on the step alone)
            if self.schedule != "constant":
                raise ValueError(
                    f"dose checkpoints need the constant schedule (with or without warm-up): under "
                    f"'{self.schedule}' a checkpoint is not what a run of its length would be"
                )
            if self.keep_best:
                raise ValueError(
                    "dose checkpoints score the weights at each checkpoint: set keep_best=false"
                )
        return self


def one_line(error: ValidationError) -> str:
    """pydantic's first complaint as one line: the setting, why, and the value given."""
    first = error.errors(include_url=False)[0]
    reason = first["msg"].removeprefix("Value error, ")
    if not first["loc"]:  # a rule over several settings: its message names them
        return reason
    given = repr(first["input"])
    given = given if len(given) <= 40 else given[:37] + "..."
    return f"setting {first['loc'][0]}: {reason[:1].lower() + reason[1:]}, got {given}"


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
    """The preset's values over the models' defaults, then `overrides` over both;
    `option_classes` are the tuners' (`tuners.OPTION_CLASSES`), each given the keys it declares."""
    values = read_preset(name)
    for key in PROTOCOL_KEYS:  # the protocol's rules beside the settings, not settings
        values.pop(key, None)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    kinds = (TrainConfig, *option_classes)
    owner = {name: kind for kind in kinds for name in kind.model_fields}
    unknown = sorted(set(values) - set(owner))
    if unknown:
        raise UsageError(
            f"unknown setting(s) {choices_text(unknown)}: valid are {choices_text(owner)}"
        )
    try:
        train, *options = (
            kind.model_validate({k: v for k, v in values.items() if owner[k] is kind})
            for kind in kinds
        )
    except ValidationError as exc:
        raise UsageError(one_line(exc)) from None
    return Settings(train, tuple(options)).validate()
