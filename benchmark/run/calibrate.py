"""`promot-bench calibrate`: a tuner's learning rate and budget chosen from the target alone.

For each learning rate of a grid, the tuner trains on the target (the preset's stages, or
`--budget`) and every `--every` steps of each stage scores the target's validation split with what
the tuner attaches — and nothing else: no retention probe is scored, so a rate or budget chosen
from these curves cannot have been chosen from how any tuner's retention came out (the project's
rule for presets). Each rate starts from the pretrained weights. One JSON per (model, tuner,
target, preset) under `<out>/calibration/`, with the curves, the training losses and the cost,
and a PNG of the curves; the choice and its rule are then written in the preset beside them.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from promot_bench.console import say
from promot_bench.evaluate import evaluation
from promot_bench.models import specs
from promot_bench.report import figures
from promot_bench.run import pipeline, runner
from promot_bench.run.dose import budget_overrides, clone_state
from promot_bench.run.options import Plan, RunOptions
from promot_bench.store import provenance
from promot_bench.store.atomic import atomic_write_text
from promot_bench.train import task_data
from promot_bench.tuners import TUNERS, load_settings

SCHEMA_VERSION = 1


class Watch:
    """Told each checkpoint's stage and step (`at`), then asked for its score: the target's
    validation split, recorded."""

    def __init__(self, scorer):
        self.scorer, self.points, self.stage, self.step = scorer, [], None, 0

    def at(self, stage, step: int) -> None:
        self.stage, self.step = stage.name, step

    def __call__(self, model, soft_prompt, demonstration: str) -> float:
        score = self.scorer(model, soft_prompt, demonstration)
        self.points.append({"stage": self.stage, "step": self.step, "score": score})
        return score


def curve(p: Plan, loaded, manager, every: int, progress: bool) -> dict:
    """One learning rate: train the plan's tuner, its validation scored every `every` steps
    (final weights, no dose checkpoints: the curve is the object here)."""
    overrides = {
        **budget_overrides(p.options),
        "checkpoint_every": every,
        "prompt_checkpoint_every": every,
        "dose": "",
        "keep_best": "false",
    }
    settings = load_settings(p.options.preset, overrides)
    task = task_data.load_task(p.targets[0], manager)
    watch = Watch(pipeline.validation_scorer(task, loaded.tokenizer, manager))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="promot-bench-calibrate-") as work:
        tuned = pipeline.fit(
            loaded,
            p.options.tuner,
            task,
            settings,
            manager,
            pipeline.FitRun(Path(work), progress, watch=watch),
        )
    return {
        "lr": settings.to_dict()[TUNERS[p.options.tuner].lr_setting],
        "validation": watch.points,
        "losses": {r.name: r.history for r in tuned.reports},
        "seconds": round(time.perf_counter() - started, 1),
    }


def path_of(p: Plan) -> Path:
    o = p.options
    return (
        o.out / "calibration" / p.spec.name / o.train / f"{o.tuner}-{o.preset}"
        f"{'-steps' + str(o.steps) if o.steps else ''}.json"
    )


def execute(base: RunOptions, rates: list[float], every: int, progress: bool = True) -> Path:
    plans = [runner.plan(replace(base, lr=lr)) for lr in rates]  # every rate checked first
    loaded = specs.load(plans[0].spec)
    manager = evaluation.task_manager(base.include_path)
    pretrained = clone_state(loaded.model)
    head = {"command": provenance.command_line(), **provenance.identity()}
    curves = []
    for number, p in enumerate(plans, 1):
        say(f"calibrate [{number}/{len(plans)}] {base.tuner} on {base.train}, lr {p.options.lr:g}")
        loaded.model.load_state_dict(pretrained)  # every rate from the pretrained weights
        curves.append(curve(p, loaded, manager, every, progress))
        best = max(curves[-1]["validation"], key=lambda c: c["score"], default=None)
        if best:
            say(f"  best validation {best['score']:.1f} at {best['stage']} step {best['step']}")
    result = {
        "schema_version": SCHEMA_VERSION,
        **head,
        "model": plans[0].spec.name,
        "tuner": base.tuner,
        "train": base.train,
        "target_task": plans[0].targets[0],
        "preset": base.preset,
        "every": every,
        "config": plans[0].settings.to_dict(),
        "rule": "the target's validation split only: no retention probe was scored",
        "curves": curves,
    }
    path = path_of(plans[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(result, indent=1))
    plot(result, path.with_suffix(".png"))
    return path


def plot(result: dict, path: Path) -> Path:
    plt = figures.pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.0))
    for c in result["curves"]:
        steps, offset, xs, ys = {}, 0, [], []
        for point in c["validation"]:  # stages one after another on one axis
            if point["stage"] not in steps:
                offset += max(steps.values(), default=0)
            steps[point["stage"]] = point["step"]
            xs.append(offset + point["step"])
            ys.append(point["score"])
        ax.plot(xs, ys, marker="o", label=f"lr {c['lr']:g}")
    ax.set_xlabel("training step (stages one after another)")
    ax.set_ylabel("target validation score")
    ax.set_title(
        f"Calibration: {result['tuner']} on {result['train']} ({result['model']}, "
        f"{result['preset']})\nthe target's validation only",
        fontsize=9,
    )
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    figures.save_png(fig, path)
    plt.close(fig)
    return path


def summary(path: Path) -> str:
    result = json.loads(path.read_text())
    lines = [f"calibration: {result['tuner']} on {result['train']} ({result['model']})"]
    for c in result["curves"]:
        scores = " ".join(f"{p['score']:.1f}" for p in c["validation"])
        lines.append(f"  lr {c['lr']:g}: {scores}  ({c['seconds']:.0f} s)")
    return "\n".join(lines + [f"written: {path} (and {path.with_suffix('.png').name})"])
