"""What one seed of the headline costs: one `ft` and one `promot` cell on `nli`, each with its dose
curve and evaluation, the protocol v2 way (`cpu-study-v2`) against the `3315f1d` way
(`cpu-study`: keep-best with validation passes, separate dose runs of 40 / 160 / 640 steps per
stage, a "before" pass recomputed for every seed).

    python -m promot_bench.perf.seed_cost --out results/bench/seed-cost.json

Scaled down, then extrapolated: in one process on one machine, it times the parts a seed is made
of through the real code — seconds per training step of `ft`'s model stage, ProMoT's prompt stage
and ProMoT's model stage (the loop, the v2 `nli` training examples, batch 8), one validation pass
(the target's 60 validation items, as keep-best scores every checkpoint), one target test pass
(0-shot, with the prompt attached for ProMoT) and one retention pass (the v2 probes, 1-shot, with
gold log-probs) — and composes the two protocols' seeds from those measured costs and each
protocol's counts (steps, checkpoints, passes). The counts are written out beside the figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from promot_bench.evaluate import evaluation, suites
from promot_bench.models import specs
from promot_bench.perf.train import step_times
from promot_bench.run import pipeline
from promot_bench.store.atomic import atomic_write_text
from promot_bench.store.provenance import bench_header
from promot_bench.train import task_data
from promot_bench.tuners import Attachment, load_settings
from promot_bench.tuners.base import FitContext, model_stage
from promot_bench.tuners.prompt import PromptOptions, new_soft_prompt, prompt_stage

TARGET = "promot_mini_v2_nli"
OLD_DOSE = (40, 160, 640)  # cpu-study's dose cells: every stage this long, final weights
OLD_TARGET_ITEMS, NEW_TARGET_ITEMS = 100, 400  # test items of nli at 3315f1d, and now


def stage_seconds(loaded, stage_of, examples, settings, steps: int, warmup: int) -> float:
    """Mean seconds per optimizer step of the stage `stage_of(ctx)` builds, after `warmup`."""
    cfg = settings.train
    workdir = Path(tempfile.mkdtemp(prefix="bench-seed-cost-"))
    try:
        ctx = FitContext(
            loaded.model,
            loaded.tokenizer,
            examples,
            cfg,
            workdir,
            progress=False,
            options=settings.of(PromptOptions),
        )
        stage = stage_of(ctx)
        stage.steps = stage.checkpoint_every = steps + warmup
        stamps = step_times(stage, loaded.model, loaded.tokenizer, examples, cfg, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return (stamps[-1] - stamps[warmup]) / steps


def timed(compute) -> float:
    started = time.perf_counter()
    compute()
    return time.perf_counter() - started


def measure(args) -> dict:
    suite = suites.SUITES["v2"]
    suite.ensure_built()
    manager = evaluation.task_manager()
    loaded = specs.load(specs.resolve("smollm2-135m"))
    pristine = {k: v.detach().clone() for k, v in loaded.model.state_dict().items()}
    task = task_data.load_task(TARGET, manager)
    examples = task_data.training_examples(task)
    settings = load_settings("cpu-study-v2")
    validate = pipeline.validation_scorer(task, loaded.tokenizer, manager)
    group = suite.groups[1]
    evaluation.run_lm_eval(
        loaded.model, loaded.tokenizer, [group], evaluation.EvalOptions(limit=2, manager=manager)
    )
    costs = {
        "retention_pass_s": timed(
            lambda: evaluation.run_lm_eval(
                loaded.model,
                loaded.tokenizer,
                [group],
                evaluation.EvalOptions(limit=args.limit, manager=manager, gold_logprob=True),
            )
        ),
        "target_pass_s": timed(
            lambda: pipeline.score_target(
                loaded.model,
                loaded.tokenizer,
                TARGET,
                Attachment(None, ""),
                evaluation.EvalOptions(manager=manager),
            )
        ),
        "validation_pass_s": timed(lambda: validate(loaded.model, None, "")),
    }
    prompt = {}

    def promot_model(ctx):
        prompt["p"] = prompt.get("p") or new_soft_prompt(ctx)
        return model_stage(ctx, prompt["p"])

    for name, stage_of in (
        ("ft_step_s", model_stage),
        ("prompt_step_s", lambda ctx: prompt_stage(ctx, new_soft_prompt(ctx))),
        ("promot_model_step_s", promot_model),
    ):
        costs[name] = stage_seconds(loaded, stage_of, examples, settings, args.steps, args.warmup)
        loaded.model.load_state_dict(pristine)  # each stage from the pretrained weights
    return {k: round(v, 3) for k, v in costs.items()}


def old_way(c: dict, study) -> dict:
    """One seed the cpu-study way: its own "before", keep-best matrix cells (validation at every
    checkpoint), and dose cells trained separately at 40, 160 and 640 steps per stage."""
    t, prompt = study.train, study.of(PromptOptions)
    model_steps, prompt_steps = t.steps, prompt.prompt_steps
    checks = t.steps // t.checkpoint_every
    prompt_checks = prompt_steps // prompt.prompt_checkpoint_every
    # its targets had 100 test items where data version 3 has 400: a pass scales with its items
    target = c["target_pass_s"] * OLD_TARGET_ITEMS / NEW_TARGET_ITEMS
    evaluate = target + c["retention_pass_s"]
    parts = {
        "before": c["retention_pass_s"] + target,
        "ft_matrix_train": model_steps * c["ft_step_s"] + checks * c["validation_pass_s"],
        "promot_matrix_train": prompt_steps * c["prompt_step_s"]
        + model_steps * c["promot_model_step_s"]
        + (checks + prompt_checks) * c["validation_pass_s"],
        "matrix_evaluation": 2 * evaluate,
        "ft_dose_train": sum(OLD_DOSE) * c["ft_step_s"],
        "promot_dose_train": sum(OLD_DOSE) * (c["prompt_step_s"] + c["promot_model_step_s"]),
        "dose_evaluation": 2 * len(OLD_DOSE) * evaluate,
    }
    return {**parts, "total": sum(parts.values())}


def new_way(c: dict, v2, seeds: int) -> dict:
    """One seed the protocol v2 way: final weights (no validation), the dose from checkpoints of
    the one run (a retention and a target pass per checkpoint), the "before" shared by `seeds`."""
    t = v2.train
    points = 1 + len([f for f in t.dose.split(",") if f])
    evaluate = c["target_pass_s"] + c["retention_pass_s"]
    parts = {
        "before": (c["retention_pass_s"] + c["target_pass_s"]) / seeds,
        "ft_train": t.steps * c["ft_step_s"],
        "promot_train": v2.of(PromptOptions).prompt_steps * c["prompt_step_s"]
        + t.steps * c["promot_model_step_s"],
        "evaluation_with_dose": 2 * points * evaluate,
    }
    return {**parts, "total": sum(parts.values())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6, help="timed steps per stage (default 6)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    parser.add_argument(
        "--limit", type=int, default=None, help="retention items per probe (default: all)"
    )
    parser.add_argument(
        "--seeds", type=int, default=12, help="seeds sharing one 'before' (default 12, the cap)"
    )
    parser.add_argument("--out", type=Path, default=None, help="write the figures to this JSON")
    args = parser.parse_args(argv)
    head = bench_header("seed_cost", argv)
    costs = measure(args)
    old = old_way(costs, load_settings("cpu-study"))
    new = new_way(costs, load_settings("cpu-study-v2"), args.seeds)
    ratio = new["total"] / old["total"]
    for name, value in costs.items():
        print(f"{name:<22} {value:8.2f}")
    print(f"one seed, the 3315f1d way: {old['total'] / 3600:.2f} h")
    print(f"one seed, protocol v2:     {new['total'] / 3600:.2f} h  ({ratio:.2f}x)")
    if args.out:
        atomic_write_text(
            args.out,
            json.dumps(
                {
                    **head,
                    "scale": {
                        "timed_steps": args.steps,
                        "warmup": args.warmup,
                        "limit": args.limit,
                    },
                    "costs": costs,
                    "old_way": {k: round(v, 1) for k, v in old.items()},
                    "new_way": {k: round(v, 1) for k, v in new.items()},
                    "ratio": round(ratio, 3),
                    "seeds_sharing_before": args.seeds,
                },
                indent=1,
            ),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
