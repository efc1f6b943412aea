"""Training throughput: tokens/s and achieved GFLOP/s of the training loop for `ft`, `pt` and
ProMoT's model stage (`promot`: weights train, the soft prompt attached), against a plain
PyTorch loop (full logits, the model's own loss, AdamW) on the same batches, `ft` in bf16
mixed precision (`ft-bf16`) and with AdamW's fused kernel (`ft-fused`), each as a fraction of
this machine's fp32 matmul rate measured in the same run; peak RSS per case.

    python -m promot_bench.perf.train --out results/bench/train.json

Each case runs in its own process (so its peak RSS is its own) through the real loop
(`training.run_stage`, batch 8, the cpu-small preset, the `nli` target), timed per optimizer
step; the first `--warmup` steps are left out. FLOPs are counted by PyTorch's FlopCounterMode
over the same batches, forward and backward (the optimizer's elementwise work is not
counted), so GFLOP/s is the matmul work actually executed per second.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from promot_bench.evaluate import evaluation
from promot_bench.models import specs
from promot_bench.store import faults
from promot_bench.store.atomic import atomic_write_text
from promot_bench.store.provenance import bench_header
from promot_bench.train import loss, task_data, training
from promot_bench.train.train_data import StageData, batch_indices, collate, encode
from promot_bench.tuners import load_settings
from promot_bench.tuners.base import FitContext, model_stage
from promot_bench.tuners.prompt import PromptOptions, new_soft_prompt, prompt_stage

CASES = ("plain", "ft", "pt", "promot", "ft-bf16", "ft-fused")


# Square sizes, and the embedded model's MLP projection at a training batch's token count
# (about 560 tokens x hidden 576 x MLP width 1536): how fast its own matmul shapes can go.
MATMUL_SHAPES = {
    "1024^3": (1024, 1024, 1024),
    "2048^3": (2048, 2048, 2048),
    "4096^3": (4096, 4096, 4096),
    "model MLP 560x576x1536": (560, 576, 1536),
}


def matmul_gflops(repeats: int = 5) -> dict[str, float]:
    """This CPU's fp32 matmul rate per shape (best of `repeats`, all threads torch uses)."""
    import torch

    rates = {}
    for label, (m, k, n) in MATMUL_SHAPES.items():
        a, b = torch.randn(m, k), torch.randn(k, n)
        torch.mm(a, b)
        best = 0.0
        for _ in range(repeats):
            started = time.perf_counter()
            torch.mm(a, b)
            best = max(best, 2 * m * k * n / (time.perf_counter() - started) / 1e9)
        rates[label] = round(best, 1)
    return rates


def step_times(stage, model, tokenizer, examples, cfg, folder) -> list[float]:
    """Run `stage` through the real loop; the clock at its start and after each optimizer step
    (the loop's "step" fault point sits right there)."""
    import torch

    stamps, real_point = [], faults.point

    def stamp(name: str) -> None:
        if name == "step":
            if torch.cuda.is_available():
                torch.cuda.synchronize()  # GPU work is asynchronous: count it where it ends
            stamps.append(time.perf_counter())
        real_point(name)

    faults.point = stamp
    try:
        stamps.append(time.perf_counter())
        data = StageData(tokenizer, examples, cfg)
        training.run_stage(stage, model, data, folder, progress=False)
    finally:
        faults.point = real_point
    return stamps[: stage.steps + 1]


def plain_inputs(batch: dict) -> dict:
    return {key: batch[key] for key in ("input_ids", "attention_mask", "labels")}


@dataclass
class Case:
    """One case, ready to train: its model and data, and what it trains."""

    case: str  # without its "-bf16" or "-fused"
    model: object
    tok: object
    examples: list
    cfg: object
    workdir: Path
    prompt: object  # the soft prompt, for "pt" and "promot"
    stage: object  # None for "plain"
    batches: list  # the batches the loop takes, step by step


def prepare_case(case: str, steps: int) -> Case:
    """Load the model and the `nli` examples, build `case`'s stage and its `steps` batches."""
    settings = load_settings(
        "cpu-small",
        {
            "steps": steps,
            "prompt_steps": steps,
            "checkpoint_every": steps,
            "prompt_checkpoint_every": steps,
            "precision": "bf16" if case.endswith("-bf16") else "fp32",
            "optimizer": "adamw-fused" if case.endswith("-fused") else "adamw",
        },
    )
    case = case.removesuffix("-bf16").removesuffix("-fused")
    loaded = specs.load(specs.resolve(None))
    model, tok = loaded.model, loaded.tokenizer
    examples = task_data.training_examples(
        task_data.load_task("promot_mini_nli", evaluation.task_manager())
    )
    workdir = Path(tempfile.mkdtemp(prefix="bench-train-"))
    cfg = settings.train
    ctx = FitContext(
        model, tok, examples, cfg, workdir, progress=False, options=settings.of(PromptOptions)
    )
    prompt = new_soft_prompt(ctx) if case in ("pt", "promot") else None
    stage = {
        "ft": lambda: model_stage(ctx),
        "pt": lambda: prompt_stage(ctx, prompt),
        "promot": lambda: model_stage(ctx, soft_prompt=prompt),
        "plain": lambda: None,
    }[case]()
    encoded = [encode(tok, ex, False, cfg.max_length) for ex in examples]
    batches = [
        collate(
            [encoded[i] for i in batch_indices(len(encoded), cfg.batch_size, cfg.seed, step)],
            tok.pad_token_id,
        )
        for step in range(steps)
    ]
    return Case(case, model, tok, examples, cfg, workdir, prompt, stage, batches)


def plain_step_times(c: Case) -> list[float]:
    """The reference: what a from-scratch PyTorch loop would do, stamped as step_times does."""
    import torch

    stamps = []
    optimizer = torch.optim.AdamW(c.model.parameters(), lr=c.cfg.lr)
    c.model.train()
    stamps.append(time.perf_counter())
    for batch in c.batches:
        c.model(**plain_inputs(batch)).loss.backward()  # HF's own loss over the full logits
        torch.nn.utils.clip_grad_norm_(c.model.parameters(), c.cfg.clip_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        stamps.append(time.perf_counter())
    return stamps


def timed_flops(c: Case, warmup: int) -> list[float]:
    """FLOPs of each timed step's forward + backward, counted outside the timing."""
    from torch.utils.flop_counter import FlopCounterMode

    c.model.train()
    flops = []
    for batch in c.batches[warmup:]:
        with FlopCounterMode(display=False) as counter:
            if c.case == "plain":
                c.model(**plain_inputs(batch)).loss.backward()
            else:
                with training.autocast(c.cfg.precision, c.model.device):
                    value = loss.compute_loss(
                        c.model, batch, c.stage.soft_prompt, c.cfg.label_smoothing
                    )
                value.backward()
        c.model.zero_grad(set_to_none=True)
        if c.prompt is not None:
            c.prompt.zero_grad(set_to_none=True)
        flops.append(counter.get_total_flops())
    return flops


def one_case(case: str, steps: int, warmup: int) -> dict:
    """Train `steps` steps of `case` and time them; runs in the child process."""
    c = prepare_case(case, steps)
    if c.case == "plain":
        stamps = plain_step_times(c)
    else:
        stamps = step_times(c.stage, c.model, c.tok, c.examples, c.cfg, c.workdir / c.case)
    flops = timed_flops(c, warmup)
    shutil.rmtree(c.workdir, ignore_errors=True)
    seconds = stamps[-1] - stamps[warmup]
    tokens = sum(int(b["attention_mask"].sum()) for b in c.batches[warmup:])
    return {
        "case": c.case
        + ("-bf16" if c.cfg.precision == "bf16" else "")
        + ("-fused" if c.cfg.optimizer == "adamw-fused" else ""),
        "steps_timed": steps - warmup,
        "seconds_per_step": seconds / (steps - warmup),
        "tokens_per_s": tokens / seconds,
        "gflop_per_step": sum(flops) / len(flops) / 1e9,
        "gflops": sum(flops) / seconds / 1e9,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def parse_args(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--steps", type=int, default=10, help="optimizer steps per case (default 10)"
    )
    parser.add_argument(
        "--warmup", type=int, default=2, help="first steps left out of the timing (default 2)"
    )
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--out", type=Path, default=None, help="write the figures to this JSON")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # child process: one case
    return parser.parse_args(argv)


def run_cases(args) -> list[dict]:
    """Each case's figures, from a process of its own (so its peak RSS is its own)."""
    rows = []
    for case in args.cases.split(","):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "promot_bench.perf.train",
                "--one",
                case,
                "--steps",
                str(args.steps),
                "--warmup",
                str(args.warmup),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return rows


def add_ratios(rows: list[dict], peak: float, shaped: float) -> None:
    """Each row's GFLOP/s as fractions of the matmul rates, and its speed-up over `plain`."""
    plain = next((r for r in rows if r["case"] == "plain"), None)
    for row in rows:
        row["fraction_of_matmul_peak"] = row["gflops"] / peak
        row["fraction_of_model_shaped_matmul"] = row["gflops"] / shaped
        row["speedup_vs_plain"] = (
            plain["seconds_per_step"] / row["seconds_per_step"] if plain else None
        )


def print_table(rows: list[dict], after: dict, peak: float, shaped: float) -> None:
    print("fp32 matmul again: " + ", ".join(f"{k} {v:.0f}" for k, v in after.items()))
    print(
        f"peak: {peak:.0f} GFLOP/s (best of all shapes, both times); the model's MLP shape: "
        f"{shaped:.0f}"
    )
    print(
        f"{'case':<8} {'s/step':>7} {'tokens/s':>9} {'GFLOP/step':>11} {'GFLOP/s':>8} "
        f"{'of peak':>8} "
        f"{'of MLP shape':>13} {'vs plain':>9} {'peak RSS':>9}"
    )
    for row in rows:
        speedup = row["speedup_vs_plain"]
        versus = f"{speedup:.2f}x" if speedup is not None else "-"
        print(
            f"{row['case']:<8} {row['seconds_per_step']:7.2f} {row['tokens_per_s']:9.0f} "
            f"{row['gflop_per_step']:11.1f} {row['gflops']:8.1f} "
            f"{row['fraction_of_matmul_peak']:8.0%} "
            f"{row['fraction_of_model_shaped_matmul']:13.0%} {versus:>9} "
            f"{row['peak_rss_mib']:7.0f} MiB"
        )


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.one:
        print(json.dumps(one_case(args.one, args.steps, args.warmup)))
        return 0

    head = bench_header("train", argv)

    before = matmul_gflops()
    print(
        "fp32 matmul GFLOP/s: " + ", ".join(f"{k} {v:.0f}" for k, v in before.items()), flush=True
    )
    rows = run_cases(args)
    after = matmul_gflops()
    peak = max(*before.values(), *after.values())
    shaped = max(before["model MLP 560x576x1536"], after["model MLP 560x576x1536"])
    add_ratios(rows, peak, shaped)
    print_table(rows, after, peak, shaped)
    if args.out:
        atomic_write_text(
            args.out,
            json.dumps(
                {
                    **head,
                    "matmul_gflops": {
                        "before": before,
                        "after": after,
                        "peak": peak,
                        "model_mlp_shape": shaped,
                    },
                    "cases": rows,
                },
                indent=1,
            ),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
