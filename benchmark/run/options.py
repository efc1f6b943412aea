"""What a run is asked to do (`RunOptions`, the command line's arguments) and what it will do
(`Plan`: the options checked and resolved into a model, a suite, eval tasks, targets and a
training configuration, with the folders its files go to)."""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass, field, fields
from pathlib import Path

from promot_bench import config
from promot_bench.config import DEFAULT_PRESET, Settings
from promot_bench.evaluate.suites import JOINERS, Suite
from promot_bench.models import specs


@dataclass
class RunOptions:
    tuner: str
    train: str
    model: str | None = None
    suite: str = "v2"
    shots: int = 1
    seed: int = 0
    preset: str = DEFAULT_PRESET
    steps: int | None = None
    lr: float | None = None  # the tuner's own learning rate (its `lr_setting`); None: the preset's
    limit: int | None = None
    out: Path = Path("results")
    overrides: dict = field(default_factory=dict)
    argv: list[str] | None = None
    # comma-separated lm-eval tasks/groups in place of the suite's group
    eval_tasks: str | None = None
    include_path: list[Path] = field(default_factory=list)  # folders of the user's own task YAMLs
    # keep the tuned weights (and any adapter) as transformers / PEFT folders
    save_model: bool = False

    def to_record(self) -> dict:
        """The options as a result records them (JSON; what the user typed, `argv`, apart)."""
        return {
            **{f.name: getattr(self, f.name) for f in fields(self) if f.name != "argv"},
            "out": str(self.out),
            "include_path": [str(folder) for folder in self.include_path],
        }

    def command(self) -> str:
        """The run's own command line: the options that re-create it, in words (the result's
        `command`; what the user typed is `argv`)."""
        o = self
        parts = [
            "promot-bench",
            "run",
            "--tuner",
            o.tuner,
            "--train",
            o.train,
            "--suite",
            o.suite,
            "--shots",
            str(o.shots),
            "--seed",
            str(o.seed),
            "--preset",
            o.preset,
            "--out",
            str(o.out),
        ]
        if o.model is not None:
            parts += ["--model", o.model]
        if o.steps is not None:
            parts += ["--budget", str(o.steps)]
        if o.lr is not None:
            parts += ["--lr", repr(o.lr)]
        if o.limit is not None:
            parts += ["--limit", str(o.limit)]
        if o.save_model:
            parts += ["--save-model"]
        if o.eval_tasks is not None:
            parts += ["--eval-tasks", o.eval_tasks]
        for folder in o.include_path:
            parts += ["--include-path", str(folder)]
        for key, value in sorted(o.overrides.items()):
            parts += ["--set", f"{key}={value}"]
        return " ".join(shlex.quote(p) for p in parts)

    @classmethod
    def from_record(cls, record: dict) -> RunOptions:
        """The options a result recorded (`to_record`), as the run had them."""
        return cls(
            **{
                **record,
                "out": Path(record["out"]),
                "include_path": [Path(folder) for folder in record["include_path"]],
            }
        )


@dataclass
class Plan:
    """Everything a run needs, checked before anything is loaded or written."""

    options: RunOptions
    spec: specs.ModelSpec
    suite: Suite
    eval_tasks: list[
        str
    ]  # what lm-eval evaluates before and after: the suite's group, or --eval-tasks
    targets: list[str]  # lm-eval task names, in training order
    settings: Settings  # the loop's settings and every tuner's options
    mode: str = "single"  # or "multi" (mixed batches) or "sequential" (one target after another)
    # None: the suite's group fixes its shots; else num_fewshot for lm-eval
    eval_shots: int | None = None
    lm_eval_defaults: bool = False  # some task is one of lm-eval's own (index them too)
    budget: str | None = None  # config.budget_label: None for the preset's own training budget
    # a dose checkpoint's plan: the length of the run's last stage it is a checkpoint of (its own
    # length is in `settings`); None for a run's own budget
    dose_of: int | None = None
    rate: str | None = None  # config.rate_label: None for the preset's own learning rate

    @property
    def group(self) -> str:
        """The eval set's name: the suite's group, or the --eval-tasks list joined."""
        return ",".join(self.eval_tasks)

    @property
    def eval_key(self) -> str:
        """The results folder level for the eval set: the suite, or the --eval-tasks (shortened)."""
        if self.eval_shots is None:
            return self.suite.key

        name = re.sub(r"[^A-Za-z0-9_.+-]", "_", "+".join(self.eval_tasks))
        if len(name) > 60:
            name = f"{name[:40]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
        return f"tasks-{name}-{self.eval_shots}shot"

    @property
    def joined_targets(self) -> str:
        """The target tasks as one name: the task itself, or the tasks joined as in --train."""
        return JOINERS.get(self.mode, "").join(self.targets)

    @property
    def variant(self) -> str | None:
        """The cell's folder below its tuner's: a preset other than the default, a budget other
        than the preset's own (None for the default preset at its own budget)."""
        return config.variant(self.options.preset, self.budget, self.rate)

    @property
    def folder(self) -> Path:
        o = self.options
        # a tuner's folder: its name, a family's "peft:dora" as "peft-dora" (":" is not a file
        # name character everywhere)
        folder = (
            o.out / "runs" / self.spec.name / self.eval_key / o.train / o.tuner.replace(":", "-")
        )
        return folder / self.variant if self.variant else folder

    @property
    def result_path(self) -> Path:
        return self.folder / f"seed{self.options.seed}.json"

    @property
    def samples_path(self) -> Path:
        return self.folder / f"seed{self.options.seed}.samples.jsonl.gz"

    @property
    def work(self) -> Path:
        return self.folder / f"seed{self.options.seed}.work"
