"""What promot_mini v2 costs against v1: one process, our evaluation path (`PromptLM`, the
runner's), the same model object, shots and batch size; v1's group as a run evaluates it, v2's
group with the gold-answer log-probability (`gold_logprob`) a run adds. Prints both walls and
their ratio (the probes issue's budget: v2 at most 1.5x v1).

    python -m promot_bench.bench_suite_cost --out results/bench/suite-cost.json

Both get one small warm-up evaluation first (first-call costs: task loading, thread pools).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

BUDGET = 1.5  # v2 / v1 wall (issue: probes that can see forgetting, "Speed")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model spec (default: the embedded model)")
    parser.add_argument("--shots", type=int, default=1, choices=[1, 4])
    parser.add_argument("--limit", type=int, default=None, help="items per task (default: all)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--out", type=Path, default=None, help="write the figures to this JSON")
    args = parser.parse_args(argv)

    from . import evaluation, models, runner
    from .bench_eval import ForwardCounter
    from .cache import atomic_write_text
    from .provenance import git_commit, machine, package_versions

    suites = {"v1": runner.SUITES["mini-v1"], "v2": runner.SUITES["mini"]}
    for suite in suites.values():
        suite.ensure_built()
    loaded = models.load(models.resolve(args.model))
    manager = evaluation.task_manager()
    cases = {"v1": dict(gold_logprob=False), "v2": dict(gold_logprob=True)}

    def timed(name, limit):
        counter = ForwardCounter(loaded.model)
        started = time.perf_counter()
        out = evaluation.run_lm_eval(loaded.model, loaded.tokenizer, [suites[name].groups[args.shots]],
                                     limit=limit, batch_size=args.batch_size, manager=manager, **cases[name])
        seconds = time.perf_counter() - started
        items = sum(len(v) for v in out["samples"].values())
        return seconds, items, counter.close()

    for name in cases:
        timed(name, 2)  # warm-up
    runs = {}
    for name in cases:
        seconds, items, forward = timed(name, args.limit)
        runs[name] = {"group": suites[name].groups[args.shots], "gold_logprob": cases[name]["gold_logprob"],
                      "seconds": round(seconds, 1), "items": items, "items_per_s": round(items / seconds, 2),
                      "forward_passes": forward}
        print(f"{name} {runs[name]['group']:<22} gold_logprob={cases[name]['gold_logprob']!s:<5} "
              f"{items} items in {seconds:6.1f} s ({items / seconds:.2f} items/s)", flush=True)
    ratio = runs["v2"]["seconds"] / runs["v1"]["seconds"]
    print(f"v2 / v1 wall: {ratio:.2f}x (budget {BUDGET}x: {'within' if ratio <= BUDGET else 'OVER'})")
    if args.out:
        atomic_write_text(args.out, json.dumps({
            "command": "python -m promot_bench.bench_suite_cost " + " ".join(sys.argv[1:] if argv is None else argv),
            "shots": args.shots, "limit": args.limit, "batch_size": args.batch_size, "model": loaded.spec.name,
            "runs": runs, "ratio": round(ratio, 2), "budget": BUDGET, "machine": machine(),
            "versions": package_versions(), "git_commit": git_commit(), "date": time.strftime("%Y-%m-%d")},
            indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
