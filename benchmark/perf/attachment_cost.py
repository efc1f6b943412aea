"""What a decoding step costs with a key/value prefix attached against a soft prompt of the same
length, on the refill path a run's evaluation takes. A pass's wall depends on how many tokens
its outputs run to (a barely trained attachment writes until `max_gen_toks`), so the comparison
is per decoding step, timed inside the decoding call (prefills left out): the same requests,
both attachments random, each pass twice, interleaved.

    python -m promot_bench.perf.attachment_cost --out results/bench/attachment-cost.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from lm_eval.api.instance import Instance

from promot_bench.evaluate import refill
from promot_bench.evaluate.prompt_lm import PromptLM
from promot_bench.models import specs
from promot_bench.store.atomic import atomic_write_text
from promot_bench.store.provenance import bench_header
from promot_bench.train.kv_prefix import KVPrefix
from promot_bench.train.soft_prompt import SoftPrompt

LENGTH = 20  # the presets' prompt_length and PEFT prefix tuning's num_virtual_tokens here
REQUESTS = 64
BATCH = 32


def requests() -> list:
    options = {"until": ["\n"], "max_gen_toks": 16, "do_sample": False}
    prompts = [f"Q: What is {i} plus {i + 3}? A:" for i in range(REQUESTS)]
    return [
        Instance(request_type="generate_until", doc={}, arguments=(p, dict(options)), idx=0)
        for p in prompts
    ]


def timed_pass(loaded, attachment) -> dict:
    """One refill pass over `requests()`: its wall, and the decoding steps' count, rows and own
    time (prefills left out)."""
    rows, seconds = [], []
    real = refill.RefillGenerator.decode

    def timed(self, active):
        started = time.perf_counter()
        out = real(self, active)
        seconds.append(time.perf_counter() - started)
        rows.append(len(active.rows))
        return out

    refill.RefillGenerator.decode = timed
    try:
        lm = PromptLM(
            pretrained=loaded.model,
            tokenizer=loaded.tokenizer,
            soft_prompt=attachment,
            batch_size=BATCH,
        )
        started = time.perf_counter()
        lm.generate_until(requests(), disable_tqdm=True)
        wall = time.perf_counter() - started
    finally:
        refill.RefillGenerator.decode = real
    return {
        "wall": wall,
        "decoding_steps": len(seconds),
        "rows": sum(rows),
        "decoding": sum(seconds),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m", help="model spec (default smollm2-135m)")
    parser.add_argument("--out", type=Path, default=None, help="write the figures to this JSON")
    args = parser.parse_args(argv)
    head = bench_header("attachment_cost", argv)
    loaded = specs.load(specs.resolve(args.model))
    attachments = {
        "soft_prompt": SoftPrompt.from_vocab(loaded.model, LENGTH, seed=0),
        "kv_prefix": KVPrefix.random(loaded.model, LENGTH, seed=0, scale=0.5),
    }
    timed_pass(loaded, attachments["soft_prompt"])  # warm-up: thread pools, first calls
    runs = {name: [] for name in attachments}
    for _ in range(2):
        for name, attachment in attachments.items():
            runs[name].append(timed_pass(loaded, attachment))
    figures = {}
    for name, passes in runs.items():
        per_step = min(1000 * p["decoding"] / p["decoding_steps"] for p in passes)
        figures[name] = {"passes": passes, "ms_per_decoding_step": per_step}
        print(f"{name}: {per_step:.1f} ms a decoding step (best of 2); {passes}")
    ratio = (
        figures["kv_prefix"]["ms_per_decoding_step"]
        / figures["soft_prompt"]["ms_per_decoding_step"]
    )
    print(f"key/value prefix against soft prompt, per decoding step: {ratio:.2f}x")
    if args.out:
        body = {
            **head,
            "length": LENGTH,
            "requests": REQUESTS,
            "batch_size": BATCH,
            "results": figures,
        }
        atomic_write_text(args.out, json.dumps({**body, "ratio": ratio}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
