"""The dose from checkpoints of one run: a run's budgets in training order (each dose checkpoint
of the tuner's last stage, then the run's own), and what `--budget` and `--set` make of a
preset's settings."""

from __future__ import annotations

from dataclasses import replace

from promot_bench.config import dose_steps, step_keys
from promot_bench.run.options import Plan, RunOptions
from promot_bench.tuners import OPTION_CLASSES, TUNERS, load_settings


def budget_overrides(options: RunOptions) -> dict:
    """The --set overrides, the seed, and --budget: a dose budget, every stage that long and
    its final weights kept (keep-best, the preset's own rule, would hide what later steps do),
    unless --set keep_best says otherwise."""
    overrides = {**options.overrides, "seed": options.seed}
    if options.lr is not None:
        overrides[TUNERS[options.tuner].lr_setting] = options.lr
    if options.steps is not None:
        overrides = {
            "keep_best": "false",
            **overrides,
            **dict.fromkeys(step_keys(OPTION_CLASSES), options.steps),
        }
    return overrides


def dose_plans(p: Plan) -> list[Plan]:
    """The plans a run scores, in training order: one per dose checkpoint of the tuner's last
    stage (the preset's `dose`), then the run's own. Sequential training has no single last
    stage to take checkpoints of: it scores its own budget only."""
    fractions = p.settings.train.dose
    if not fractions or p.mode == "sequential":
        return [p]
    setting = TUNERS[p.options.tuner].dose_setting
    length = p.settings.stage_lengths()[setting]
    plans = []
    for steps in dose_steps(fractions, length)[:-1]:
        settings = load_settings(p.options.preset, {**budget_overrides(p.options), setting: steps})
        label = "-".join(part for part in (p.budget, f"checkpoint{steps}") if part)
        plans.append(replace(p, settings=settings, budget=label, dose_of=length))
    return plans + [p]


def clone_state(model) -> dict:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
