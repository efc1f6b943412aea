"""What the forgetting metrics cost against the evaluation pass they ride on: in one process, the
wall of one retention pass as a run makes it (promot_mini v2's 1-shot probes, our path, with
`gold_logprob`), of the same pass with the KL from a pretrained copy (`kl_reference`, as the
"after" pass computes it), and of the held-out text's cross-entropy (evaluate/heldout.py: 100
documents, their first 512 tokens) on the same weights. Prints each metric's added time as a
ratio to the pass (the target: ≤ 0.15).

    python -m promot_bench.perf.metric_cost --out results/bench/metric-cost.json

A small warm-up of each first (first-call costs: task loading, thread pools).
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

from promot_bench.evaluate import evaluation, heldout, suites
from promot_bench.models import specs
from promot_bench.perf.model_cost import eval_pass
from promot_bench.store.atomic import atomic_write_text
from promot_bench.store.provenance import bench_header


def heldout_pass(loaded, text, limit: int | None) -> tuple[float, int]:
    started = time.perf_counter()
    scored = heldout.score(loaded.model, loaded.tokenizer, text, limit)
    return time.perf_counter() - started, sum(scored["tokens"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m", help="model spec (default smollm2-135m)")
    parser.add_argument("--out", type=Path, default=None, help="write the figures to this JSON")
    args = parser.parse_args(argv)
    head = bench_header("metric_cost", argv)
    suite = suites.SUITES["v2"]
    suite.ensure_built()
    group = suite.groups[1]
    manager = evaluation.task_manager()
    loaded = specs.load(specs.resolve(args.model))
    text = heldout.load_text()
    reference = copy.deepcopy(loaded.model)  # the pretrained copy the "after" pass loads
    eval_pass(loaded, manager, group, 2, reference)  # warm-ups
    heldout_pass(loaded, text, 2)
    pass_s, items = eval_pass(loaded, manager, group, None)
    kl_s = eval_pass(loaded, manager, group, None, reference)[0] - pass_s
    held_s, tokens = heldout_pass(loaded, text, None)
    ratio = held_s / pass_s
    print(f"{loaded.spec.name}: retention pass {items} items in {pass_s:.1f} s")
    print(f"KL from the pretrained copy: {kl_s:+.1f} s, {kl_s / pass_s:.2f}x (target <= 0.15)")
    print(f"held-out text: {len(text.documents)} documents, {tokens} tokens in {held_s:.1f} s")
    print(f"held-out cross-entropy / retention pass: {ratio:.2f}x (target <= 0.15)")
    if args.out:
        figures = {
            "model": loaded.spec.name,
            "group": group,
            "batch_size": evaluation.BATCH_SIZE,
            "retention_pass_s": round(pass_s, 1),
            "retention_items": items,
            "kl_added_s": round(kl_s, 1),
            "kl_ratio": round(kl_s / pass_s, 3),
            "heldout_s": round(held_s, 1),
            "heldout_documents": len(text.documents),
            "heldout_tokens": tokens,
            "heldout_batch_size": heldout.BATCH_SIZE,
            "heldout_ratio": round(ratio, 3),
        }
        atomic_write_text(args.out, json.dumps({**head, **figures}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
