"""The steps a run is made of, each usable alone: turn a target task into training data, fit
a tuner on it (with keep-best on the target's validation split), and score the target with
whatever the tuner attaches (soft prompt, demonstration, adapter)."""

from __future__ import annotations

from pathlib import Path

from . import evaluation, targets
from .config import TrainConfig


def target_scorer(task, tokenizer, manager, batch_size: int = 8):
    """Scores (model, soft prompt, prefix) on the target's validation split, 0-100."""
    validation = targets.validation_task(task)
    if validation is None:
        return None
    name = task.config.task

    def score(model, soft_prompt, prefix: str) -> float:
        result = evaluation.evaluate(model, tokenizer, [validation], soft_prompt=soft_prompt, prefix=prefix,
                                     manager=manager, batch_size=batch_size, bootstrap_iters=0)
        return result[name].value

    return score


def fit(loaded, tuner_name: str, task, cfg: TrainConfig, workdir: Path, manager, progress: bool = True):
    """Fit `tuner_name` on `task`'s training split; returns the tuner's `Tuned`."""
    import torch

    from .tuners import FitContext, get

    tuner = get(tuner_name)
    torch.manual_seed(cfg.seed)
    ctx = FitContext(loaded.model, loaded.tokenizer, targets.training_examples(task), cfg, workdir,
                     target_scorer(task, loaded.tokenizer, manager) if cfg.keep_best else None, progress)
    return tuner.fit(ctx)


def score_target(tuned, tokenizer, task, manager, limit: int | None = None, batch_size: int = 8):
    """The target's test score with the tuner's attachments (0-shot, as in the study)."""
    name = task.config.task
    return evaluation.evaluate(tuned.model, tokenizer, [name], soft_prompt=tuned.soft_prompt, prefix=tuned.prefix,
                               limit=limit, manager=manager, batch_size=batch_size)[name]
