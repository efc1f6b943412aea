"""The steps a run is made of, each usable alone: turn target tasks into training data, fit a
tuner on them (with keep-best on the targets' validation splits), and score a target with
whatever the tuner attaches for it (soft prompt, demonstration, adapter).

Several targets at once is multi-task training: their training examples are mixed in every
batch, a tuner with a soft prompt gets one prompt per task, and keep-best uses the mean of the
targets' validation scores."""

from __future__ import annotations

from pathlib import Path

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


def fit(
    loaded,
    tuner_name: str,
    tasks,
    settings: Settings,
    workdir: Path,
    manager,
    progress: bool = True,
    model=None,
    watch=None,
    examples: list | None = None,
    extendable: bool = False,
):
    """Fit `tuner_name` on the training split of `tasks` (one task, or a list: multi-task);
    `model` continues from other weights than `loaded.model` (sequential training). `watch`
    (diagnose's recorder) scores every checkpoint in place of the targets' validation and is
    told each checkpoint's stage and step (`watch.at`). `examples`: the tasks' training examples,
    where the caller has read them already. `extendable`: keep every stage resumable at its end,
    so a later fit with longer stages in the same `workdir` continues them (dose checkpoints)."""
    import torch

    tasks = tasks if isinstance(tasks, list) else [tasks]
    tuner = get(tuner_name)
    torch.manual_seed(settings.train.seed)
    if examples is None:
        examples = [ex for task in tasks for ex in task_data.training_examples(task)]
    if watch is not None:
        scorer, hook = watch, watch.at
    elif settings.train.keep_best:
        scorer, hook = validation_scorer(tasks, loaded.tokenizer, manager), None
    else:
        scorer, hook = None, None
    ctx = FitContext(
        loaded.model if model is None else model,
        loaded.tokenizer,
        examples,
        settings.train,
        workdir,
        scorer,
        progress,
        on_checkpoint=hook,
        options=settings.of(tuner.Options),
        extendable=extendable,
    )
    return tuner.fit(ctx)


def score_target(
    model,
    attachment,
    tokenizer,
    name: str,
    manager,
    seed: int = 0,
    limit: int | None = None,
    batch_size: int = evaluation.BATCH_SIZE,
):
    """Target `name`'s test score with what its evaluation attaches (a `tuners.Attachment`),
    0-shot as in the study."""
    scores = evaluation.evaluate(
        model,
        tokenizer,
        [name],
        evaluation.EvalOptions(
            soft_prompt=attachment.soft_prompt,
            demonstration=attachment.demonstration,
            limit=limit,
            manager=manager,
            batch_size=batch_size,
            num_fewshot=0,
            seed=seed,
        ),
    )
    return scores[name]
