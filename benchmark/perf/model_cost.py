"""What a second model costs against the default: for each model, in one process, seconds per
`ft` training step through the real loop (the cpu-small preset, batch 8, v1's `nli` training
rows, `promot_mini_nli`, as perf.train and perf.train_step use)
and the wall of one promot_mini 1-shot evaluation pass as a run makes it (our path, with
`gold_logprob`, evaluation.BATCH_SIZE). Prints each figure and its ratio to the first model's.

    python -m promot_bench.perf.model_cost --out results/bench/model-cost.json

Each model gets one small warm-up evaluation and one warm-up step first (first-call costs:
task loading, thread pools); the models run one after the other, never side by side.
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from promot_bench.evaluate import evaluation, suites
from promot_bench.models import specs
from promot_bench.perf.train import step_times
from promot_bench.store.atomic import atomic_write_text
from promot_bench.store.provenance import bench_header
from promot_bench.train import task_data
from promot_bench.tuners import load_settings
from promot_bench.tuners.base import FitContext, model_stage

MODELS = ("smollm2-135m", "gemma3-270m")


def train_seconds(loaded, manager, steps: int, warmup: int) -> float:
    """Mean seconds per optimizer step of `ft` after `warmup` steps (the real loop)."""
    cfg = load_settings(
        "cpu-small", {"steps": steps + warmup, "checkpoint_every": steps + warmup}
    ).train
    examples = task_data.training_examples(task_data.load_task("promot_mini_nli", manager))
    workdir = Path(tempfile.mkdtemp(prefix="bench-model-cost-"))
    try:
        ctx = FitContext(loaded.model, loaded.tokenizer, examples, cfg, workdir, progress=False)
        stamps = step_times(
            model_stage(ctx), loaded.model, loaded.tokenizer, examples, cfg, workdir
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return (stamps[-1] - stamps[warmup]) / steps


def eval_pass(loaded, manager, group: str, limit: int | None, reference=None) -> tuple[float, int]:
    """Seconds and items of one retention pass as a run makes it (with the KL from
    `reference`, as the "after" pass computes it, where one is given)."""
    started = time.perf_counter()
    out = evaluation.run_lm_eval(
        loaded.model,
        loaded.tokenizer,
        [group],
        evaluation.EvalOptions(
            limit=limit, manager=manager, gold_logprob=True, kl_reference=reference
        ),
    )
    return time.perf_counter() - started, sum(len(v) for v in out["samples"].values())


def parse_args(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models",
        default=",".join(MODELS),
        help="comma-separated model specs, the first is the reference "
        f"(default {','.join(MODELS)})",
    )
    parser.add_argument(
        "--steps", type=int, default=5, help="timed training steps per model (default 5)"
    )
    parser.add_argument(
        "--warmup", type=int, default=1, help="untimed training steps first (default 1)"
    )
    parser.add_argument(
        "--limit", type=int, default=None, help="evaluation items per task (default: all)"
    )
    parser.add_argument("--out", type=Path, default=None, help="write the figures to this JSON")
    return parser.parse_args(argv)


def measure_model(spec: str, manager, group: str, args) -> tuple[str, dict]:
    """(the model's name, its figures, printed); the model is freed before this returns."""
    loaded = specs.load(specs.resolve(spec))
    params = sum(p.numel() for p in loaded.model.parameters())
    eval_pass(loaded, manager, group, 2)  # warm-up
    seconds, items = eval_pass(loaded, manager, group, args.limit)
    step = train_seconds(loaded, manager, args.steps, args.warmup)
    name = loaded.spec.name
    row = {
        "params_m": round(params / 1e6, 1),
        "train_s_per_step": round(step, 3),
        "eval_pass_s": round(seconds, 1),
        "eval_items": items,
        "eval_items_per_s": round(items / seconds, 2),
    }
    print(
        f"{name:<15} {params / 1e6:6.1f} M params  ft {step:.2f} s/step  "
        f"1-shot pass {items} items in {seconds:.1f} s",
        flush=True,
    )
    del loaded
    gc.collect()
    return name, row


def add_ratios(figures: dict) -> None:
    """Each model's ratios to the first model's figures, added to its row and printed."""
    reference = next(iter(figures.values()))
    for name, row in figures.items():
        row["train_ratio"] = round(row["train_s_per_step"] / reference["train_s_per_step"], 2)
        row["eval_ratio"] = round(row["eval_pass_s"] / reference["eval_pass_s"], 2)
        print(
            f"{name:<15} against the first: training step {row['train_ratio']:.2f}x, "
            f"evaluation pass {row['eval_ratio']:.2f}x"
        )


def main(argv=None) -> int:
    args = parse_args(argv)

    head = bench_header("model_cost", argv)

    suite = suites.SUITES["v2"]
    suite.ensure_built()
    group = suite.groups[1]
    manager = evaluation.task_manager()  # built once, outside the timed passes
    figures = {}
    for spec in args.models.split(","):
        name, row = measure_model(spec, manager, group, args)
        figures[name] = row
    add_ratios(figures)
    if args.out:
        atomic_write_text(
            args.out,
            json.dumps(
                {
                    **head,
                    "group": group,
                    "limit": args.limit,
                    "batch_size": evaluation.BATCH_SIZE,
                    "train_batch_size": load_settings("cpu-small").train.batch_size,
                    "train_steps_timed": args.steps,
                    "models": figures,
                },
                indent=1,
            ),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
