"""What a decoding step costs with a key/value prefix attached against a soft prompt of the same
length, on the refill path a run's evaluation takes. A pass's wall depends on how many tokens
its outputs run to (a barely trained attachment writes until `max_gen_toks`), so the comparison
is per decoding step: the same requests, both attachments random, each timed twice,
interleaved.

    python -m promot_bench.perf.attachment_cost --out results/bench/attachment-cost.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
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


def random_prefix(model) -> KVPrefix:
    config = model.config
    size = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    shape = (config.num_hidden_layers, 2, config.num_key_value_heads, LENGTH, size)
    return KVPrefix(torch.randn(shape, generator=torch.Generator().manual_seed(0)) * 0.5)


def timed_pass(loaded, attachment) -> dict:
    """Wall, decoding steps and rows of one refill pass over `requests()`."""
    steps, rows = [], []
    real = refill.RefillGenerator.decode

    def counting(self, active):
        steps.append(1)
        rows.append(len(active.rows))
        return real(self, active)

    refill.RefillGenerator.decode = counting
    try:
        lm = PromptLM(
            pretrained=loaded.model,
            tokenizer=loaded.tokenizer,
            soft_prompt=attachment,
            batch_size=BATCH,
        )
        started = time.perf_counter()
        lm.generate_until(requests(), disable_tqdm=True)
        seconds = time.perf_counter() - started
    finally:
        refill.RefillGenerator.decode = real
    return {"seconds": seconds, "decoding_steps": len(steps), "rows": sum(rows)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m", help="model spec (default smollm2-135m)")
    parser.add_argument("--out", type=Path, default=None, help="write the figures to this JSON")
    args = parser.parse_args(argv)
    head = bench_header("attachment_cost", argv)
    loaded = specs.load(specs.resolve(args.model))
    attachments = {
        "soft_prompt": SoftPrompt.from_vocab(loaded.model, LENGTH, seed=0),
        "kv_prefix": random_prefix(loaded.model),
    }
    timed_pass(loaded, attachments["soft_prompt"])  # warm-up: thread pools, first calls
    runs = {name: [] for name in attachments}
    for _ in range(2):
        for name, attachment in attachments.items():
            runs[name].append(timed_pass(loaded, attachment))
    figures = {}
    for name, passes in runs.items():
        per_step = [p["seconds"] / p["decoding_steps"] for p in passes]
        figures[name] = {"passes": passes, "ms_per_decoding_step": 1000 * min(per_step)}
        print(f"{name}: {1000 * min(per_step):.1f} ms a decoding step (best of 2); {passes}")
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
