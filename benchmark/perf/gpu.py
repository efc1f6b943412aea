"""A short GPU check of the training path at scale: a Llama model of about 1.1B parameters built
from config (TinyLlama's shape, random weights) in bf16, a few steps of each kind of stage
through the real loop (`training.run_stage`): `ft` (all weights), `pt` (the soft prompt only)
and ProMoT's model stage (all weights, the soft prompt attached); with `--fsdp`, `ft` and the
model stage again through the FSDP strategy in one process (the sharded code path on a GPU:
NCCL, DTensor shards, gathering into the model). Prints and writes seconds per step, tokens/s
and peak GPU memory per stage.

    python -m promot_bench.perf.gpu --examples EXAMPLES.jsonl --tokenizer TOKENIZER_DIR \\
        --out gpu.json

EXAMPLES.jsonl holds {"prompt", "target"} rows (`--export DIR` writes the `nli` target's, and
the embedded model's tokenizer, for carrying to a machine without lm-eval or the data).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

# TinyLlama-1.1B's shape (22 layers, hidden 2048, grouped-query attention with 4 KV heads).
SHAPE = dict(
    hidden_size=2048,
    intermediate_size=5632,
    num_hidden_layers=22,
    num_attention_heads=32,
    num_key_value_heads=4,
    max_position_embeddings=2048,
)


def export(folder: Path) -> None:
    """Write the nli target's training examples and the embedded model's tokenizer to `folder`."""
    from transformers import AutoTokenizer

    from promot_bench.evaluate import evaluation
    from promot_bench.models import specs
    from promot_bench.train import task_data

    folder.mkdir(parents=True, exist_ok=True)
    examples = task_data.training_examples(
        task_data.load_task("promot_mini_nli", evaluation.task_manager())
    )
    (folder / "examples.jsonl").write_text(
        "".join(
            json.dumps({"prompt": e.prompt, "completion": e.completion}) + "\n" for e in examples
        )
    )
    AutoTokenizer.from_pretrained(specs.prepare(specs.resolve(None))).save_pretrained(
        folder / "tokenizer"
    )


def parse_args(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=Path)
    parser.add_argument("--tokenizer", type=Path)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--export", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--fsdp", action="store_true", help="also run ft and the model stage sharded (FSDP)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="a tiny shape on the CPU, to check the script"
    )
    return parser.parse_args(argv)


@dataclass
class Setup:
    """What every stage trains: the model (on `device`), its tokenizer and the examples."""

    model: object
    tokenizer: object
    examples: list
    device: str
    device_name: str
    parameters: int


def load_setup(args) -> Setup:
    """The tokenizer and examples from their files, and the model built for them (printed)."""
    import torch
    from transformers import AutoTokenizer

    from promot_bench.train.train_data import Example

    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    examples = [Example(**json.loads(line)) for line in args.examples.read_text().splitlines()]
    model, device = build_model(tokenizer, args.dry_run)
    parameters = sum(p.numel() for p in model.parameters())
    device_name = torch.cuda.get_device_name() if device == "cuda" else "cpu (dry run)"
    print(f"{device_name}: Llama {parameters / 1e9:.2f}B parameters, bf16", flush=True)
    return Setup(model, tokenizer, examples, device, device_name, parameters)


def build_model(tokenizer, dry_run: bool):
    """(model, device): SHAPE with random weights (seed 0) in bf16 on the GPU; for a dry run a
    tiny shape on the CPU."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    shape = (
        dict(
            SHAPE,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
        )
        if dry_run
        else SHAPE
    )
    device = "cpu" if dry_run else "cuda"
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
        **shape,
    )
    torch.manual_seed(0)
    return LlamaForCausalLM(config).to(device=device, dtype=torch.bfloat16), device


def build_stages(ctx, prompt, fsdp: bool) -> dict:
    """The stages to time, by the name they are reported under."""
    from promot_bench.tuners.base import model_stage
    from promot_bench.tuners.prompt import prompt_stage

    # A first, unreported stage warms the GPU up (cuBLAS picks kernels per new shape):
    # without it, whichever stage runs first looks several times slower.
    stages = {
        "warm-up": model_stage(ctx, name="warm-up"),
        "ft": model_stage(ctx, name="ft"),
        "pt": prompt_stage(ctx, prompt),
        "promot (model stage)": model_stage(ctx, soft_prompt=prompt, name="promot-model"),
    }
    # The same two prompt stages again with the shared-prefix path off (every row runs the
    # prompt itself): which is faster on a GPU?
    stages["pt (plain path)"] = replace(stages["pt"], name="pt-plain")
    stages["promot (plain path)"] = replace(stages["promot (model stage)"], name="promot-plain")
    if fsdp:
        stages["ft (FSDP)"] = replace(stages["ft"], name="ft-fsdp")
        stages["promot (model stage, FSDP)"] = replace(
            stages["promot (model stage)"], name="promot-fsdp"
        )
    return stages


def run_stages(args, setup: Setup) -> dict:
    """Every stage through the real loop; each reported one's row, printed as it ends."""
    import torch

    from promot_bench.config import TrainConfig
    from promot_bench.perf.train import step_times
    from promot_bench.train import shared_prefix
    from promot_bench.tuners.base import FitContext
    from promot_bench.tuners.prompt import PromptOptions, new_soft_prompt

    model, tokenizer, examples, device = setup.model, setup.tokenizer, setup.examples, setup.device
    cfg = TrainConfig(
        batch_size=args.batch_size,
        steps=args.steps,
        lr=1e-5,
        checkpoint_every=args.steps,
        keep_best=False,
        max_length=256,
    )
    prompt_options = PromptOptions(prompt_steps=args.steps, prompt_checkpoint_every=args.steps)
    rows = {}
    shared_loss = shared_prefix.loss
    with tempfile.TemporaryDirectory() as workdir:
        ctx = FitContext(
            model, tokenizer, examples, cfg, Path(workdir), progress=False, options=prompt_options
        )
        prompt = new_soft_prompt(ctx).to(device=device, dtype=torch.bfloat16)
        for name, stage in build_stages(ctx, prompt, args.fsdp).items():
            # The FSDP strategy is chosen by the launch's environment
            # (benchmark/train/distributed.py).
            os.environ["ACCELERATE_USE_FSDP"] = "true" if "FSDP" in name else "false"
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            shared_prefix.loss = (lambda *a: None) if "plain path" in name else shared_loss
            stamps = step_times(stage, model, tokenizer, examples, cfg, Path(workdir) / stage.name)
            timed = stamps[args.warmup :]
            seconds = (timed[-1] - timed[0]) / (len(timed) - 1)
            report = json.loads((Path(workdir) / stage.name / "done.json").read_text())
            if name == "warm-up":
                continue
            rows[name] = stage_row(name, seconds, report, device)
    return rows


def stage_row(name: str, seconds: float, report: dict, device: str) -> dict:
    """One stage's figures from its timing and its done.json, printed."""
    import torch

    tokens_per_step = report["tokens"] / report["steps"]
    row = {
        "seconds_per_step": round(seconds, 4),
        "tokens_per_s": round(tokens_per_step / seconds),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)
        if device == "cuda"
        else None,
        "losses": [round(loss, 4) for _, loss in report["history"]],
    }
    print(
        f"{name:<22} {seconds:.3f} s/step  {tokens_per_step / seconds:8.0f} tokens/s  "
        f"peak {row['peak_memory_gib']} GiB  losses {row['losses']}",
        flush=True,
    )
    return row


def write_json(args, argv, setup: Setup, rows: dict) -> None:
    import torch

    args.out.write_text(
        json.dumps(
            {
                "command": "python -m promot_bench.perf.gpu "
                + " ".join(sys.argv[1:] if argv is None else argv),
                "device": setup.device_name,
                "parameters": setup.parameters,
                "dtype": "bfloat16",
                "batch_size": args.batch_size,
                "steps": args.steps,
                "warmup_steps_left_out": args.warmup,
                "stages": rows,
                "versions": {
                    "torch": torch.__version__,
                    "transformers": __import__("transformers").__version__,
                },
                "date": time.strftime("%Y-%m-%d"),
            },
            indent=1,
        )
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.export:
        export(args.export)
        return 0
    setup = load_setup(args)
    rows = run_stages(args, setup)
    if args.out:
        write_json(args, argv, setup, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
