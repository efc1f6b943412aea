"""Seconds per training step (forward + backward, batch 8) on the embedded model, plain pass vs
the training loop's `compute_loss` (logits only at targets + shared-prefix reuse), for three
kinds of batch: ft (nothing shared), a 20-token soft prompt, and promot-1shot (soft prompt +
one demonstration). Prints the ratio per kind; both are measured in the same process.

    python -m promot_bench.perf.train_step
"""

import time
from dataclasses import replace

from promot_bench.evaluate import evaluation
from promot_bench.models import specs
from promot_bench.train import loss, task_data
from promot_bench.train.soft_prompt import SoftPrompt
from promot_bench.train.train_data import collate, encode


def main() -> None:
    loaded = specs.load(specs.resolve(None))
    model, tok = loaded.model, loaded.tokenizer
    examples = task_data.training_examples(
        task_data.load_task("promot_mini_nli", evaluation.task_manager())
    )
    demo = f"{examples[0].prompt}{examples[0].completion}\n\n"
    one_shot = [replace(e, prompt=demo + e.prompt) for e in examples[1:9]]
    prompt = SoftPrompt.from_vocab(model, 20, 0)
    cases = {
        "ft": (examples[:8], None),
        "soft prompt 20": (examples[:8], prompt),
        "promot-1shot": (one_shot, prompt),
    }
    for name, (rows, soft_prompt) in cases.items():
        batch = collate([encode(tok, e, False, 192) for e in rows], tok.pad_token_id)
        seconds = {}
        for compute in (loss.plain_loss, loss.compute_loss):
            compute(model, batch, soft_prompt).backward()  # warm-up
            model.zero_grad()
            started = time.perf_counter()
            for _ in range(3):
                compute(model, batch, soft_prompt).backward()
                model.zero_grad()
            seconds[compute.__name__] = (time.perf_counter() - started) / 3
        print(
            f"{name:<15} plain {seconds['plain_loss']:.2f} s/step, compute_loss "
            f"{seconds['compute_loss']:.2f} s/step, "
            f"ratio {seconds['plain_loss'] / seconds['compute_loss']:.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
