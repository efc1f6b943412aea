"""The steps a run is made of, each usable alone: turn target tasks into training data, fit a
tuner on them (with keep-best on the targets' validation splits), and score a target with
whatever the tuner attaches for it (soft prompt, demonstration, adapter).

Several targets at once is multi-task training: their training examples are mixed in every
batch, a tuner with a soft prompt gets one prompt per task, and keep-best uses the mean of the
targets' validation scores."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from promot_bench.config import Settings
from promot_bench.evaluate import evaluation
from promot_bench.train import task_data
from promot_bench.train.soft_prompt import for_task
from promot_bench.tuners import FitContext, get


def validation_scorer(tasks, tokenizer, manager, batch_size: int = evaluation.BATCH_SIZE):
    """Scores (model, soft prompt, demonstration) on the targets' validation splits, 0-100
    (their mean); None when a target has no validation split."""
    tasks = tasks if isinstance(tasks, list) else [tasks]
    validations = {task.config.task: task_data.validation_task(task) for task in tasks}
    if any(v is None for v in validations.values()):
        return None

    def score(model, soft_prompt, demonstration: str) -> float | None:
        """The mean validation score."""
        values = []
        for name, validation in validations.items():
            result = evaluation.evaluate(
                model,
                tokenizer,
                [validation],
                evaluation.EvalOptions(
                    soft_prompt=for_task(soft_prompt, name),
                    demonstration=demonstration,
                    manager=manager,
                    batch_size=batch_size,
                    bootstrap_iters=0,
                    num_fewshot=0,
                ),
            )
            values.append(result[name].value)
        return sum(values) / len(values)

    return score


@dataclass(frozen=True)
class FitRun:
    """Where and how one fit runs, beyond what it fits: its work folder (checkpoints go to
    `workdir/<stage>/`), whether it shows progress, `model` to continue from other weights than
    the loaded ones (sequential training), `watch` (diagnose's recorder: scores every checkpoint
    in place of the targets' validation and is told each checkpoint's stage and step,
    `watch.at`), `examples` where the caller has read the training examples already, and
    `extendable` (keep every stage resumable at its end, so a later fit with longer stages in the
    same folder continues them: dose checkpoints)."""

    workdir: Path
    progress: bool = True
    model: Any = None
    watch: Any = None
    examples: list | None = None
    extendable: bool = False


def fit(loaded, tuner_name: str, tasks, settings: Settings, manager, run: FitRun):
    """Fit `tuner_name` on the training split of `tasks` (one task, or a list: multi-task), as
    `run` says; keep-best (where the settings ask for it) scores the targets' validation splits
    through `manager`."""
    import torch

    tasks = tasks if isinstance(tasks, list) else [tasks]
    tuner = get(tuner_name)
    torch.manual_seed(settings.train.seed)
    examples = run.examples
    if examples is None:
        examples = [ex for task in tasks for ex in task_data.training_examples(task)]
    if run.watch is not None:
        scorer, hook = run.watch, run.watch.at
    elif settings.train.keep_best:
        scorer, hook = validation_scorer(tasks, loaded.tokenizer, manager), None
    else:
        scorer, hook = None, None
    ctx = FitContext(
        loaded.model if run.model is None else run.model,
        loaded.tokenizer,
        examples,
        settings.train,
        run.workdir,
        scorer,
        run.progress,
        on_checkpoint=hook,
        options=settings.of(tuner.Options),
        extendable=run.extendable,
    )
    return tuner.fit(ctx)


def score_target(model, tokenizer, name: str, attachment, options=evaluation.EvalOptions()):
    """Target `name`'s test score with what its evaluation attaches (a `tuners.Attachment`),
    0-shot as in the study; `options` give the rest (task manager, seed, limit, batch size)."""
    options = replace(
        options,
        soft_prompt=attachment.soft_prompt,
        demonstration=attachment.demonstration,
        num_fewshot=0,
    )
    return evaluation.evaluate(model, tokenizer, [name], options)[name]
