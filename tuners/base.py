"""The tuner interface: what every method implements, and the pieces they share.

A tuner turns (model, tokenizer, training examples, the loop's settings, its own options) into a
`Tuned`: the tuned weights, plus what is attached for the target task only (a soft prompt, a
text demonstration, an adapter). Evaluating the retention probes uses `Tuned.stripped()`: the
weights with every attachment removed. Tuners only declare stages; the shared loop
(`promot_bench.train.training`) trains them. A tuner's options are a pydantic model beside it (its
`Options`, a `config.Options`): its fields' types and bounds validate them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar, NamedTuple

from promot_bench.config import TrainConfig
from promot_bench.train.soft_prompt import for_task
from promot_bench.train.train_data import Example, StageData
from promot_bench.train.training import Stage, StageReport, run_stage

# scores (model, soft prompt or None, text demonstration) on the target's validation split
ValidationScorer = Callable[[object, object, str], float]
# told (stage, its step) at each checkpoint, before the scorer runs (diagnose's recorder)
CheckpointHook = Callable[[Stage, int], None]


@dataclass
class FitContext:
    model: object
    tokenizer: object
    examples: list[Example]
    cfg: TrainConfig  # the loop's settings
    workdir: Path  # checkpoints go to workdir/<stage name>/
    score_validation: ValidationScorer | None = None
    progress: bool = True
    on_checkpoint: CheckpointHook | None = None
    options: object | None = None  # the tuner's own settings (an instance of its `Options`)
    extendable: bool = False  # keep each stage resumable at its end (a dose run continues it)

    @property
    def tasks(self) -> list[str]:
        """The target tasks of the training examples, in order of first appearance."""
        return list(dict.fromkeys(ex.task for ex in self.examples))

    def train(self, stage: Stage, model=None, demonstration: str = "") -> StageReport:
        """Run one stage; keep-best validation scores the model as the target evaluation will."""
        model = self.model if model is None else model
        stage.extendable = self.extendable

        def validate(step: int):
            if self.on_checkpoint is not None:
                self.on_checkpoint(stage, step)
            return self.score_validation(model, stage.soft_prompt, demonstration)

        return run_stage(
            stage,
            model,
            StageData(self.tokenizer, self.examples, self.cfg),
            self.workdir / stage.name,
            validate if self.score_validation is not None else None,
            self.progress,
        )


class Attachment(NamedTuple):
    """What a target's own evaluation attaches to the tuned weights (the probes get neither)."""

    soft_prompt: object | None  # a SoftPrompt or KVPrefix, or None
    demonstration: str  # natural-language text after the soft prompt ("" for none)


@dataclass
class Tuned:
    model: object  # the tuned model (with its adapter, where a tuner uses one)
    soft_prompt: object | None = None  # attached for the target task only
    demonstration: str = ""  # natural-language text after the soft prompt, target task only
    reports: list[StageReport] = field(default_factory=list)
    strip: Callable[[object], object] | None = None  # removes an adapter, if any

    def attachment(self, task: str) -> Attachment:
        """What `task`'s evaluation attaches: its soft prompt (one of several, multi-task) and the
        demonstration."""
        return Attachment(for_task(self.soft_prompt, task), self.demonstration)

    def stripped(self):
        """The weights alone: what the retention probes evaluate."""
        return self.strip(self.model) if self.strip else self.model


class Tuner:
    name: ClassVar[str]
    summary: ClassVar[str]
    trains: ClassVar[str]  # what changes
    attached_in_training: ClassVar[str]
    attached_at_target_eval: ClassVar[str]
    multi_task: ClassVar[bool] = True  # can train on several targets at once (mixed batches)
    decoder_only: ClassVar[bool] = False  # what it attaches needs a decoder-only model
    # the setting that is the length of its last stage: what a dose from checkpoints varies
    dose_setting: ClassVar[str] = "steps"
    # the setting that is its own learning rate (that stage's): what `--lr` sets
    lr_setting: ClassVar[str] = "lr"
    Options: ClassVar[type | None] = None  # its own settings: a model beside it, or None
    # a prompt-learning method's probes are scored with its prompt attached too, as PEFT's method
    # comparison scores them (the retention matrix itself is always the weights alone)
    probes_attached: ClassVar[bool] = False

    def fit(self, ctx: FitContext) -> Tuned:
        raise NotImplementedError

    @classmethod
    def check(cls, settings) -> None:
        """Refuse settings this tuner cannot train with, before anything loads (one line)."""


def all_weights(model, lr: float) -> dict:
    return {f"model.{name}": (param, lr) for name, param in model.named_parameters()}


def model_stage(
    ctx: FitContext, soft_prompt=None, extra: dict | None = None, name: str = "model"
) -> Stage:
    return Stage(
        name,
        ctx.cfg.steps,
        ctx.cfg.checkpoint_every,
        {**all_weights(ctx.model, ctx.cfg.lr), **(extra or {})},
        soft_prompt,
    )
