"""Evaluation speed: our path (`PromptLM`, the runner's) against stock lm-eval (`HFLM` on the
same model object), same tasks, shots, batch size and seed, in one process. Prints items/s,
wall time and the ratio, and checks that every item's output and every score are identical.

    python -m promot_bench.perf.eval --out results/bench/eval.json

Both get one small warm-up evaluation first (first-call costs: task loading, thread pools).
Forward hooks split the model's time into prefill passes (tokens computed, padding included)
and decoding steps (one token per row), the two things the speed-up comes from.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from promot_bench.evaluate import evaluation
from promot_bench.evaluate.prompt_lm import PromptLM
from promot_bench.models import specs
from promot_bench.store.atomic import atomic_write_text
from promot_bench.store.provenance import bench_header


class ForwardCounter:
    """Where the model's time goes: forward passes over many tokens per row (prefill) vs one
    token per row (a decoding step), with the seconds spent in each."""

    def __init__(self, model):
        self.stats = {
            "prefill": {"calls": 0, "tokens": 0, "seconds": 0.0},
            "decode": {"calls": 0, "rows": 0, "seconds": 0.0},
        }
        self._started = None
        self._hooks = [
            model.register_forward_pre_hook(self._before, with_kwargs=True),
            model.register_forward_hook(self._after, with_kwargs=True),
        ]

    def _before(self, _module, args, kwargs):
        tokens = kwargs.get("input_ids", kwargs.get("inputs_embeds", args[0] if args else None))
        rows, length = tokens.shape[0], tokens.shape[1]
        self._kind = "decode" if length == 1 else "prefill"
        entry = self.stats[self._kind]
        entry["calls"] += 1
        entry["rows" if length == 1 else "tokens"] += rows if length == 1 else rows * length
        self._started = time.perf_counter()

    def _after(self, _module, _args, _kwargs, _output):
        self.stats[self._kind]["seconds"] += time.perf_counter() - self._started

    def close(self) -> dict:
        for hook in self._hooks:
            hook.remove()
        for entry in self.stats.values():
            entry["seconds"] = round(entry["seconds"], 1)
        return self.stats


def timed(evaluation, loaded, tasks, options):
    """One pass of `evaluation.evaluate` as `options` say: (seconds, scores, forward passes)."""
    counter = ForwardCounter(loaded.model)
    started = time.perf_counter()
    scores = evaluation.evaluate(loaded.model, loaded.tokenizer, tasks, options)
    return time.perf_counter() - started, scores, counter.close()


def parse_args(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model spec (default: the embedded model)")
    parser.add_argument("--tasks", default="promot_mini", help="comma-separated tasks or groups")
    parser.add_argument("--shots", type=int, default=1)
    parser.add_argument("--limit", type=int, default=None, help="items per task (default: all)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--out", type=Path, default=None, help="write the figures to this JSON")
    return parser.parse_args(argv)


def run_paths(args, loaded, tasks: list[str], paths: dict) -> dict:
    """Every path warmed up, then each timed; its figures printed as it ends."""

    def options(limit: int | None, lm_class):
        return evaluation.EvalOptions(
            num_fewshot=args.shots, limit=limit, batch_size=args.batch_size, lm_class=lm_class
        )

    for lm_class in paths.values():  # warm-up
        timed(evaluation, loaded, tasks, options(2, lm_class))
    runs = {}
    for name, lm_class in paths.items():
        seconds, scores, forward = timed(evaluation, loaded, tasks, options(args.limit, lm_class))
        items = sum(s.n for s in scores.values())
        runs[name] = {
            "seconds": round(seconds, 1),
            "items": items,
            "items_per_s": round(items / seconds, 2),
            "forward_passes": forward,
            "scores": {t: s.value for t, s in scores.items()},
            "outputs": {t: [r["output"] for r in s.samples] for t, s in scores.items()},
        }
        prefill, decode = forward["prefill"], forward["decode"]
        print(
            f"{name:<24} {items} items in {seconds:6.1f} s  ({items / seconds:.2f} items/s); "
            f"prefill {prefill['tokens']} tokens in {prefill['calls']} passes, "
            f"{prefill['seconds']} s; "
            f"{decode['calls']} decoding steps ({decode['rows']} rows), {decode['seconds']} s",
            flush=True,
        )
    return runs


def compare(stock: dict, ours: dict) -> tuple[int, bool, float]:
    """(items with a different output, scores identical, speed-up), printed with each score."""
    differing = sum(
        a != b for t in stock["outputs"] for a, b in zip(stock["outputs"][t], ours["outputs"][t])
    )
    same_scores = stock["scores"] == ours["scores"]
    ratio = stock["seconds"] / ours["seconds"]
    print(
        f"speed-up {ratio:.2f}x; scores identical: {same_scores}; items with a different output: "
        f"{differing}"
    )
    for task in stock["scores"]:
        print(f"  {task:<28} stock {stock['scores'][task]:7.3f}  ours {ours['scores'][task]:7.3f}")
    return differing, same_scores, ratio


def write_json(args, head: dict, tasks: list[str], model: str, runs: dict, compared) -> None:
    differing, same_scores, ratio = compared
    for run in runs.values():
        del run["outputs"]
    atomic_write_text(
        args.out,
        json.dumps(
            {
                **head,
                "tasks": tasks,
                "shots": args.shots,
                "limit": args.limit,
                "batch_size": args.batch_size,
                "model": model,
                "runs": runs,
                "speedup": round(ratio, 2),
                "scores_identical": same_scores,
                "items_with_different_output": differing,
            },
            indent=1,
        ),
    )


def main(argv=None) -> int:
    args = parse_args(argv)

    from lm_eval.models.huggingface import HFLM

    head = bench_header("eval", argv)

    loaded = specs.load(specs.resolve(args.model))
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    paths = {"stock lm-eval HFLM": HFLM, "promot-bench PromptLM": PromptLM}
    runs = run_paths(args, loaded, tasks, paths)
    stock, ours = runs.values()
    differing, same_scores, ratio = compare(stock, ours)
    if args.out:
        write_json(args, head, tasks, loaded.spec.name, runs, (differing, same_scores, ratio))
    return 0 if same_scores else 1


if __name__ == "__main__":
    sys.exit(main())
