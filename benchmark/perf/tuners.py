"""Every tuner on one target with one preset: training time and target score, against the
pretrained model. Prints a table and writes a JSON with the command that made it.

    python -m promot_bench.perf.tuners --target promot_mini_nli --preset cpu-small \
        --out results/tuners/smollm2-135m-cpu-small-nli.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from promot_bench.cli import parse_overrides
from promot_bench.evaluate import evaluation
from promot_bench.evaluate.evaluation import EvalOptions
from promot_bench.models import specs
from promot_bench.run import pipeline
from promot_bench.store.atomic import atomic_write_text
from promot_bench.store.provenance import bench_header
from promot_bench.train import task_data
from promot_bench.tuners import TUNERS, Attachment, load_settings


def parse_args(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--target", default="promot_mini_nli")
    parser.add_argument("--preset", default="cpu-small")
    parser.add_argument("--tuners", default=",".join(TUNERS))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a preset setting (repeatable), as in `promot-bench run`",
    )
    return parser.parse_args(argv)


@dataclass
class Setup:
    """What every tuner is fitted and scored with."""

    manager: object
    spec: object
    task: object
    settings: object
    target: str


def score_pretrained(setup: Setup) -> dict:
    """The pretrained model's row (printed)."""
    loaded = specs.load(setup.spec)
    base = pipeline.score_target(
        loaded.model,
        loaded.tokenizer,
        setup.target,
        Attachment(None, ""),
        EvalOptions(manager=setup.manager),
    )
    row = {"train_seconds": 0.0, "target_score": base.value, "stderr": base.stderr}
    print(f"pretrained: {setup.target} {base.value:.1f} ± {base.stderr:.1f}", flush=True)
    return row


def fit_and_score(setup: Setup, name: str) -> tuple[dict, list]:
    """Tuner `name` fitted on a fresh copy of the pretrained weights and scored on the target:
    (its row, its stage reports)."""
    loaded = specs.load(setup.spec)  # a fresh copy of the pretrained weights for every tuner
    with tempfile.TemporaryDirectory() as workdir:
        started = time.perf_counter()
        tuned = pipeline.fit(
            loaded,
            name,
            setup.task,
            setup.settings,
            setup.manager,
            pipeline.FitRun(Path(workdir), progress=False),
        )
        seconds = time.perf_counter() - started
    scoring = time.perf_counter()
    score = pipeline.score_target(
        tuned.model,
        loaded.tokenizer,
        setup.target,
        tuned.attachment(setup.target),
        EvalOptions(manager=setup.manager),
    )
    scoring = time.perf_counter() - scoring
    training = sum(r.seconds for r in tuned.reports)
    # each stage's seconds per optimizer step (checkpoint writes included)
    per_step = {r.name: r.seconds / r.steps for r in tuned.reports if r.steps}
    row = {
        "train_seconds": training,
        "fit_seconds_with_validation": seconds,
        "best_steps": [r.best_step for r in tuned.reports],
        "target_score": score.value,
        "stderr": score.stderr,
        "seconds_per_step": per_step,
        # the target's pass with what the tuner attaches (merged adapters: the plain model)
        "target_seconds": scoring,
        "stages": [r.to_dict() for r in tuned.reports],
    }
    return row, tuned.reports


def print_row(name: str, target: str, row: dict, reports: list) -> None:
    per_step = row["seconds_per_step"]
    print(
        f"{name}: {target} {row['target_score']:.1f} ± {row['stderr']:.1f}; training "
        f"{row['train_seconds']:.0f} s "
        f"({', '.join(f'{k} {v:.2f} s/step' for k, v in per_step.items())}; "
        f"{row['fit_seconds_with_validation']:.0f} s with keep-best validation); target pass "
        f"{row['target_seconds']:.0f} s; best steps "
        f"{', '.join(f'{r.name} {r.best_step} ({r.best_score})' for r in reports)}",
        flush=True,
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    head = bench_header("tuners", argv)

    manager = evaluation.task_manager()
    spec = specs.resolve(args.model)
    task = task_data.load_task(args.target, manager)
    settings = load_settings(args.preset, parse_overrides(args.overrides))
    setup = Setup(manager, spec, task, settings, args.target)
    rows = {"pretrained": score_pretrained(setup)}
    for name in args.tuners.split(","):
        rows[name], reports = fit_and_score(setup, name)
        print_row(name, args.target, rows[name], reports)
    if args.out:
        atomic_write_text(
            args.out,
            json.dumps(
                {
                    **head,
                    "model": spec.name,
                    "target": args.target,
                    "preset": settings.to_dict(),
                    "results": rows,
                },
                indent=1,
            ),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
