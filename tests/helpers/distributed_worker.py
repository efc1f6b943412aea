"""Trains one stage of the real loop on the tiny Llama and writes its loss history and final
weights' digest (main process only); or (`eval`) evaluates it on `promot_mini` and writes, per
process, how many requests it served and, on the main process, the scores. Run alone, or under
`accelerate launch --multi_gpu --num_processes 2` (gloo on CPU), by tests/train/test_distributed.py.

    python tests/helpers/distributed_worker.py MODEL_DIR ft|promot|eval OUT.json WORKDIR
"""

import json
import os
import sys
from pathlib import Path

import torch
from tiny_models import livened  # a script: its own folder (tests/helpers/) is on sys.path

from promot_bench import processes
from promot_bench.config import TrainConfig
from promot_bench.evaluate import evaluation
from promot_bench.evaluate.prompt_lm import PromptLM
from promot_bench.models import specs
from promot_bench.train.soft_prompt import SoftPrompt
from promot_bench.train.train_data import Example
from promot_bench.tuners.base import FitContext, model_stage

EXAMPLES = [
    Example(f"Is {a} bigger than {b}? answer:", " True" if a > b else " False")
    for a in range(3, 9)
    for b in range(2, 7)
    if a != b
]


def main() -> None:
    model_dir, kind, out, workdir = sys.argv[1:5]
    torch.manual_seed(0)
    loaded = livened(specs.load_from_path(Path(model_dir)))
    if kind == "eval":
        return evaluate(loaded, Path(out))
    # Batches of 6 split 3 + 3 over two processes; rows differ in length, so the split changes
    # each process's padding and token counts (what the loss weighting must get right).
    # A clip norm every step's gradient exceeds: each process must clip by the global norm.
    cfg = TrainConfig(
        batch_size=6, steps=4, checkpoint_every=2, lr=1e-3, keep_best=False, clip_norm=0.05
    )
    ctx = FitContext(loaded.model, loaded.tokenizer, EXAMPLES, cfg, Path(workdir), progress=False)
    prompt = SoftPrompt.from_vocab(loaded.model, 4, seed=0) if kind == "promot" else None
    report = ctx.train(model_stage(ctx, soft_prompt=prompt))
    if processes.is_main():
        weights = {name: p.detach() for name, p in loaded.model.named_parameters()}
        Path(out).write_text(
            json.dumps(
                {
                    "history": report.history,
                    "grad_norms": report.grad_norms,
                    "resumed_from": report.resumed_from,
                    "weights": {
                        name: t.flatten()[:8].tolist() for name, t in list(weights.items())[:6]
                    },
                    "norm": float(sum(t.double().pow(2).sum() for t in weights.values()) ** 0.5),
                }
            )
        )


class CountingLM(PromptLM):
    """PromptLM that counts the requests it is given."""

    served = 0

    def generate_until(self, requests, disable_tqdm: bool = False):
        CountingLM.served += len(requests)
        return super().generate_until(requests, disable_tqdm)


def evaluate(loaded, out: Path) -> None:
    processes.init_group()
    scores = evaluation.evaluate(
        loaded.model,
        loaded.tokenizer,
        ["promot_mini"],
        evaluation.EvalOptions(limit=5, lm_class=CountingLM),
    )
    rank = int(os.environ.get("RANK", "0"))
    out.with_suffix(f".rank{rank}.json").write_text(
        json.dumps(
            {
                "served": CountingLM.served,
                "scores": {
                    t: [s.value, [r["output"] for r in s.samples]] for t, s in scores.items()
                },
            }
        )
    )


if __name__ == "__main__":
    try:
        main()
    finally:
        processes.end_group()
