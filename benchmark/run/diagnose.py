"""`promot-bench diagnose`: watch format specialization happen (the study's Figures 1-3).

At the start and every `every` training steps of each tuner, on the current weights:
  * the target's validation score, 0-shot, with what the tuner attaches (soft prompt, demo);
  * every eval task's score with the prompt stripped, on the first `eval_limit` items;
  * the format-specialization rate: per eval task, the fraction of outputs whose first word is
    one of the target's labels (True/False for `nli`) or, for a translation target, the
    fraction of outputs in the target's language (see `language_of`);
  * gradient alignment: on one fixed batch, the cosine between the gradient of the loss with
    the true labels and with the labels shuffled across the batch's examples (same inputs), per
    parameter group of the last block (MLP; attention Q, K, V) and over all parameters. Near 1:
    the gradient mostly teaches the answer's format, which shuffled labels share.

Steps count across all of a tuner's stages (ProMoT's first 40 are prompt-only: its weights,
and so the stripped scores, stay put). One JSON (schema-versioned, with the command) and PNG
plots per diagnose run, under <out>/diagnose/<model>/<eval set>/<train>/.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from promot_bench.config import variant
from promot_bench.errors import UsageError
from promot_bench.evaluate import evaluation
from promot_bench.evaluate.alignment import cosines, gradients, parameter_groups, shuffled_labels
from promot_bench.evaluate.formats import TargetFormat, specialization_rate, target_format
from promot_bench.models import specs
from promot_bench.report import diagnose_plots
from promot_bench.run import pipeline, record, runner
from promot_bench.run.options import Plan, RunOptions
from promot_bench.store import provenance
from promot_bench.store.atomic import atomic_write_text
from promot_bench.train import task_data
from promot_bench.train.train_data import with_demonstration

SCHEMA_VERSION = 1

# --- gradient alignment ------------------------------------------------------------------------


# --- the run ----------------------------------------------------------------------------------


@dataclass
class Checkpoint:
    step: int
    stage: str
    target: float | None
    scores: dict  # eval task -> score (prompt stripped, first eval_limit items)
    specialization: dict  # eval task -> rate (0-1) or None
    cosine: dict  # parameter group -> cosine or None
    seconds: float = 0.0


def mean_rate(specialization: dict, excluded) -> float | None:
    """The mean specialization rate over the eval tasks not `excluded` (None when none has one)."""
    rates = [r for t, r in specialization.items() if r is not None and t not in excluded]
    return sum(rates) / len(rates) if rates else None


# an eval task this often in the target's format before training is left out
ALREADY_IN_FORMAT = 0.5


def already_in_format(start: dict) -> list[str]:
    """Eval tasks that answer in the target's format before any training (nli3 and same-word
    answer True/False themselves): their rate says nothing about specialization, so the mean
    leaves them out (their own rates stay in the file)."""
    return sorted(t for t, r in start.items() if r is not None and r >= ALREADY_IN_FORMAT)


def summarize(result: dict) -> dict:
    """The derived figures of a diagnose result, recomputed from its per-task measurements."""
    for data in result["tuners"].values():
        start = data["checkpoints"][0]["specialization"]
        excluded = already_in_format(start)
        data["excluded_from_mean_specialization"] = excluded
        for c in data["checkpoints"]:
            c["mean_specialization"] = mean_rate(c["specialization"], excluded)
            c["mean_score"] = sum(c["scores"].values()) / len(c["scores"])
    return result


@dataclass
class DiagnoseOptions:
    tuners: list[str]
    train: str
    every: int = 10
    eval_limit: int = 15
    probe_batch: int = 8
    base: RunOptions = field(default_factory=lambda: RunOptions(tuner="", train=""))


@dataclass(frozen=True)
class Watched:
    """What the recorder measures against: the target tasks (their validation score), the
    targets' answer format (the specialization rate) and the gradient-alignment batch, with its
    labels true and shuffled."""

    tasks: list
    fmt: TargetFormat
    true_examples: list
    shuffled_examples: list


class Recorder:
    """Called at every checkpoint the training loop makes (as its validation hook)."""

    def __init__(
        self, loaded, plan: Plan, manager, watched: Watched, options: DiagnoseOptions, progress
    ):
        self.loaded, self.plan, self.manager, self.fmt = loaded, plan, manager, watched.fmt
        self.true_examples = watched.true_examples
        self.shuffled_examples = watched.shuffled_examples
        self.options, self.progress = options, progress
        self.groups = parameter_groups(loaded.model)
        self.score_validation = pipeline.validation_scorer(watched.tasks, loaded.tokenizer, manager)
        self.checkpoints: list[Checkpoint] = []
        self.stage, self.stage_start, self.stage_steps, self.step = "start", 0, 0, 0
        # weights hash -> (scores, specialization): unchanged weights, same answers
        self._eval_cache: dict = {}

    def at(self, stage, step: int) -> None:
        """The loop's checkpoint hook: the checkpoint about to be scored is `stage`'s `step`;
        steps count on across a tuner's stages."""
        if stage.name != self.stage:
            self.stage_start += self.stage_steps
            self.stage, self.stage_steps = stage.name, stage.steps
        self.step = self.stage_start + step

    def __call__(self, model, soft_prompt, demonstration: str) -> float:
        started = time.perf_counter()
        step = self.step
        target = (
            self.score_validation(model, soft_prompt, demonstration)
            if self.score_validation
            else None
        )
        scores, rates = self.probe_scores(model)
        cos = self.alignment(model, soft_prompt, demonstration)
        point = Checkpoint(
            step, self.stage, target, scores, rates, cos, round(time.perf_counter() - started, 2)
        )
        self.checkpoints.append(point)
        if self.progress:
            spec = mean_rate(rates, already_in_format(self.checkpoints[0].specialization))
            print(
                f"  step {step:>4} ({self.stage}): target "
                f"{target if target is None else round(target, 1)}, "
                f"in-context mean {sum(scores.values()) / len(scores):.1f}, specialization "
                f"{'-' if spec is None else f'{spec:.2f}'}, cosine(all) {cos.get('all')}",
                flush=True,
            )
        return -math.inf if target is None else target

    def probe_scores(self, model) -> tuple[dict, dict]:
        """Each eval task's score and specialization rate on these weights (prompt stripped);
        unchanged weights (ProMoT's prompt stage) are not scored again."""
        key = record.weights_hash(model)
        if key not in self._eval_cache:
            results = evaluation.evaluate(
                model,
                self.loaded.tokenizer,
                self.plan.eval_tasks,
                evaluation.EvalOptions(
                    manager=self.manager,
                    limit=self.options.eval_limit,
                    num_fewshot=self.plan.eval_shots,
                    seed=self.plan.options.seed,
                    bootstrap_iters=0,
                ),
            )
            self._eval_cache[key] = (
                {t: r.value for t, r in results.items()},
                {
                    t: specialization_rate([s["output"] for s in r.samples], self.fmt)
                    for t, r in results.items()
                },
            )
        return self._eval_cache[key]

    def alignment(self, model, soft_prompt, demonstration: str) -> dict:
        """Per parameter group, the cosine between the gradients of the true and the shuffled
        labels' loss on the probe batch."""

        def grads(examples):
            return gradients(
                model,
                self.loaded.tokenizer,
                with_demonstration(examples, demonstration),
                soft_prompt,
                self.plan.settings.train.max_length,
            )

        return cosines(grads(self.true_examples), grads(self.shuffled_examples), self.groups)


def plan_all(options: DiagnoseOptions) -> list[Plan]:
    if options.every < 1 or options.eval_limit < 1 or options.probe_batch < 2:
        raise UsageError("--every and --eval-limit must be at least 1 (--probe-batch at least 2)")
    if len(set(options.tuners)) != len(options.tuners):
        raise UsageError("--tuner names a tuner twice")
    overrides = {
        "checkpoint_every": options.every,
        "prompt_checkpoint_every": options.every,
        "keep_best": "false",
        **options.base.overrides,
    }
    plans = [
        runner.plan(replace(options.base, tuner=t, train=options.train, overrides=overrides))
        for t in options.tuners
    ]
    if plans[0].mode == "sequential":
        raise UsageError(
            "diagnose follows one training run: use one target or a multi-task a+b target"
        )
    return plans


def result_path(plans: list[Plan], options: DiagnoseOptions) -> Path:
    """Named by the tuners and seed, and by the preset and --budget where not the default's own
    (diagnose always follows the final weights, so keep-best is not part of its budget)."""
    p = plans[0]
    setting = variant(
        p.options.preset, None if p.options.steps is None else f"steps{p.options.steps}"
    )
    return (
        p.options.out
        / "diagnose"
        / p.spec.name
        / p.eval_key
        / p.options.train
        / f"{'+'.join(options.tuners)}{f'-{setting}' if setting else ''}-seed{p.options.seed}.json"
    )


def command(options: DiagnoseOptions) -> str:
    run = (
        replace(options.base, tuner=",".join(options.tuners), train=options.train)
        .command()
        .split(" ", 2)[2]
    )
    return (
        f"promot-bench diagnose {run} --every {options.every} --eval-limit {options.eval_limit} "
        f"--probe-batch {options.probe_batch}"
    )


def execute(options: DiagnoseOptions, progress: bool = True) -> dict:
    plans = plan_all(options)
    path = result_path(plans, options)
    provenance.code_identity()  # recorded as it is now, before the training starts
    started = time.perf_counter()
    per_tuner = {}
    for plan in plans:
        per_tuner[plan.options.tuner], recorder, fmt = _watch_tuner(plan, options, progress)
    p = plans[0]
    result = {
        "schema_version": SCHEMA_VERSION,
        **provenance.header(command(options), p.options.argv),
        "model": {"spec": p.spec.text, "name": p.spec.name},
        "train": p.options.train,
        "target_tasks": p.targets,
        "eval_tasks": p.eval_tasks,
        "eval_group": p.group,
        "shots": p.options.shots,
        "seed": p.options.seed,
        "preset": p.options.preset,
        "config": p.settings.to_dict(),
        "every": options.every,
        "eval_limit": options.eval_limit,
        "probe_batch": options.probe_batch,
        "format": {"labels": list(fmt.labels), "language": fmt.language, "rule": fmt.describe()},
        "parameter_groups": {
            g: (len(ns) if g == "all" else ns) for g, ns in recorder.groups.items()
        },
        "tuners": per_tuner,
        "seconds": round(time.perf_counter() - started, 2),
    }
    summarize(result)
    atomic_write_text(path, json.dumps(result, indent=1))
    result["plots"] = [str(x) for x in diagnose_plots.plot(result, path)]
    atomic_write_text(path, json.dumps(result, indent=1))
    result["path"] = str(path)
    return result


def _watch_tuner(plan: Plan, options: DiagnoseOptions, progress: bool) -> tuple:
    """Train one tuner with the recorder scoring every checkpoint (and the pretrained model as
    step 0): its entry in the result, the recorder and the targets' format."""
    started = time.perf_counter()
    if progress:
        print(f"{plan.options.tuner} on {plan.options.train}:", flush=True)
    loaded = specs.load(plan.spec)
    manager = evaluation.task_manager(plan.options.include_path, defaults=plan.lm_eval_defaults)
    tasks = [task_data.load_task(t, manager) for t in plan.targets]
    examples = [ex for task in tasks for ex in task_data.training_examples(task)]
    fmt = target_format(examples)
    probe = examples[: options.probe_batch]
    watched = Watched(tasks, fmt, probe, shuffled_labels(probe, plan.options.seed))
    recorder = Recorder(loaded, plan, manager, watched, options, progress)
    recorder(loaded.model, None, "")  # step 0: the pretrained model, nothing attached
    with tempfile.TemporaryDirectory() as workdir:
        tuned = pipeline.fit(
            loaded,
            plan.options.tuner,
            tasks,
            plan.settings,
            manager,
            pipeline.FitRun(Path(workdir), progress, watch=recorder, examples=examples),
        )
    entry = {
        "stages": [{"name": r.name, "steps": r.steps, "seconds": r.seconds} for r in tuned.reports],
        "checkpoints": [dict(c.__dict__) for c in recorder.checkpoints],
        "seconds": round(time.perf_counter() - started, 2),
    }
    return entry, recorder, fmt


def format_summary(result: dict) -> str:
    lines = [
        f"diagnose: {', '.join(result['tuners'])} on {result['train']} "
        f"({result['model']['name']}); "
        f"format = {result['format']['rule']}",
        f"{'tuner':<14} {'step':>5} {'target':>7} {'mean':>6} {'spec.':>6} {'cos all':>8}",
    ]
    for tuner, data in result["tuners"].items():
        for c in data["checkpoints"]:
            spec, cos = c["mean_specialization"], c["cosine"].get("all")
            lines.append(
                f"{tuner:<14} {c['step']:>5} "
                f"{'-' if c['target'] is None else format(c['target'], '7.1f'):>7} "
                f"{c['mean_score']:6.1f} {'-' if spec is None else format(spec, '6.2f'):>6} "
                f"{'-' if cos is None else format(cos, '8.3f'):>8}"
            )
    lines.append(f"result: {result['path']}")
    return "\n".join(lines)
