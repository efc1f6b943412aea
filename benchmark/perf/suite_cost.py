"""What promot_mini v2 costs against v1: one process, our evaluation path (`PromptLM`, the
runner's), the same model object and shots; v1's group as a run evaluates it, v2's group with
the gold-answer log-probability (`gold_logprob`) a run adds. The budget (the probes issue: v2
at most 1.5x v1) is against v1's pass as it ran before the batch size went from 8 to 32
(`--reference-batch-size`); v1 at v2's batch size is timed too, for the like-for-like ratio.

    python -m promot_bench.perf.suite_cost --out results/bench/suite-cost.json

Both get one small warm-up evaluation first (first-call costs: task loading, thread pools).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from promot_bench.evaluate import evaluation
from promot_bench.evaluate.suites import SUITES
from promot_bench.models import specs
from promot_bench.perf.eval import ForwardCounter
from promot_bench.store.atomic import atomic_write_text
from promot_bench.store.provenance import bench_header

BUDGET = 1.5  # v2 / v1 wall (issue: probes that can see forgetting, "Speed")


def parse_args(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model spec (default: the embedded model)")
    parser.add_argument("--shots", type=int, default=1, choices=[1, 4])
    parser.add_argument("--limit", type=int, default=None, help="items per task (default: all)")
    parser.add_argument(
        "--batch-size", type=int, default=None, help="v2's (default: evaluation.BATCH_SIZE)"
    )
    parser.add_argument(
        "--reference-batch-size", type=int, default=8, help="the budget's v1 pass (default 8)"
    )
    parser.add_argument("--out", type=Path, default=None, help="write the figures to this JSON")
    return parser.parse_args(argv)


@dataclass
class Setup:
    """What every case evaluates with: the built suites, the model, one task manager."""

    suites: dict
    loaded: object
    manager: object
    cases: dict  # name -> its suite, gold_logprob and batch size
    shots: int


def prepare(args) -> Setup:
    """The suites built, the model loaded, and the three cases."""
    suites = {"v1": SUITES["v1"], "v2": SUITES["v2"]}
    for suite in suites.values():
        suite.ensure_built()
    loaded = specs.load(specs.resolve(args.model))
    manager = evaluation.task_manager()
    batch = args.batch_size or evaluation.BATCH_SIZE
    cases = {
        "v1": dict(suite="v1", gold_logprob=False, batch_size=args.reference_batch_size),
        "v1_same_batch": dict(suite="v1", gold_logprob=False, batch_size=batch),
        "v2": dict(suite="v2", gold_logprob=True, batch_size=batch),
    }
    return Setup(suites, loaded, manager, cases, args.shots)


def timed_case(setup: Setup, name: str, limit):
    """(seconds, items, forward passes) of case `name`'s evaluation pass."""
    loaded = setup.loaded
    counter = ForwardCounter(loaded.model)
    started = time.perf_counter()
    case = setup.cases[name]
    out = evaluation.run_lm_eval(
        loaded.model,
        loaded.tokenizer,
        [setup.suites[case["suite"]].groups[setup.shots]],
        evaluation.EvalOptions(
            limit=limit,
            batch_size=case["batch_size"],
            manager=setup.manager,
            gold_logprob=case["gold_logprob"],
        ),
    )
    seconds = time.perf_counter() - started
    items = sum(len(v) for v in out["samples"].values())
    return seconds, items, counter.close()


def run_cases(setup: Setup, limit) -> dict:
    """Every case warmed up, then each timed; its figures printed as it ends."""
    cases = setup.cases
    for name in cases:
        timed_case(setup, name, 2)  # warm-up
    runs = {}
    for name in cases:
        seconds, items, forward = timed_case(setup, name, limit)
        runs[name] = {
            "group": setup.suites[cases[name]["suite"]].groups[setup.shots],
            "gold_logprob": cases[name]["gold_logprob"],
            "batch_size": cases[name]["batch_size"],
            "seconds": round(seconds, 1),
            "items": items,
            "items_per_s": round(items / seconds, 2),
            "forward_passes": forward,
        }
        print(
            f"{name:<13} {runs[name]['group']:<22} batch {cases[name]['batch_size']:<3} "
            f"gold_logprob={cases[name]['gold_logprob']!s:<5} "
            f"{items} items in {seconds:6.1f} s ({items / seconds:.2f} items/s)",
            flush=True,
        )
    return runs


def main(argv=None) -> int:
    args = parse_args(argv)

    head = bench_header("suite_cost", argv)

    setup = prepare(args)
    runs = run_cases(setup, args.limit)
    ratio = runs["v2"]["seconds"] / runs["v1"]["seconds"]
    same_batch = runs["v2"]["seconds"] / runs["v1_same_batch"]["seconds"]
    print(
        f"v2 / v1 wall: {ratio:.2f}x (budget {BUDGET}x: "
        f"{'within' if ratio <= BUDGET else 'OVER'}); "
        f"at the same batch size {same_batch:.2f}x"
    )
    if args.out:
        atomic_write_text(
            args.out,
            json.dumps(
                {
                    **head,
                    "shots": args.shots,
                    "limit": args.limit,
                    "model": setup.loaded.spec.name,
                    "runs": runs,
                    "ratio": round(ratio, 2),
                    "ratio_same_batch": round(same_batch, 2),
                    "budget": BUDGET,
                },
                indent=1,
            ),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
