"""Training examples -> token batches with the loss on completion tokens only.

An example is (prompt, completion) text: the completion is the gold text the model learns to
continue the prompt with. Decoder-only models see prompt+completion with labels -100 over the
prompt; encoder-decoder models get the prompt as encoder input and the completion as labels.
Batches are right-padded. The batch at step s is a pure function of (seed, s), so a resumed run
sees exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from promot_bench.config import TrainConfig

IGNORE = -100


@dataclass(frozen=True)
class Example:
    prompt: str
    completion: str  # the gold text after the prompt, starting with the task's delimiter
    task: str = ""  # which target task it came from (multi-task training keeps them apart)


@dataclass(frozen=True)
class StageData:
    """What every stage of one fit trains with: the tokenizer, the training examples and the
    loop's settings."""

    tokenizer: object
    examples: list[Example]
    cfg: TrainConfig


def with_demonstration(examples: list[Example], demonstration: str) -> list[Example]:
    """The examples with a text demonstration before each prompt (promot-1shot's)."""
    if not demonstration:
        return examples
    return [replace(ex, prompt=demonstration + ex.prompt) for ex in examples]


def encode(tokenizer, example: Example, is_encoder_decoder: bool, max_length: int) -> dict:
    """Token ids and labels for one example; the prompt is cut from the left if too long."""
    prompt_ids = tokenizer(example.prompt, add_special_tokens=False)["input_ids"]
    completion_ids = tokenizer(example.completion, add_special_tokens=False)["input_ids"] + [
        tokenizer.eos_token_id
    ]
    if is_encoder_decoder:
        return {
            "input_ids": prompt_ids[-max_length:],
            "labels": completion_ids[:max_length],
            "task": example.task,
        }
    if tokenizer.bos_token_id is not None and getattr(tokenizer, "add_bos_token", False):
        prompt_ids = [tokenizer.bos_token_id] + prompt_ids
    completion_ids = completion_ids[: max_length - 1]
    prompt_ids = prompt_ids[-(max_length - len(completion_ids)) :]
    return {
        "input_ids": prompt_ids + completion_ids,
        "labels": [IGNORE] * len(prompt_ids) + completion_ids,
        "task": example.task,
    }


def collate(rows: list[dict], pad_id: int) -> dict:
    import torch

    def pad(key: str, value: int):
        width = max(len(r[key]) for r in rows)
        return torch.tensor([r[key] + [value] * (width - len(r[key])) for r in rows])

    batch = {"input_ids": pad("input_ids", pad_id), "labels": pad("labels", IGNORE)}
    width = batch["input_ids"].shape[1]
    batch["attention_mask"] = torch.tensor(
        [[1] * len(r["input_ids"]) + [0] * (width - len(r["input_ids"])) for r in rows]
    )
    batch["tasks"] = [
        r.get("task", "") for r in rows
    ]  # multi-task training attaches each row's own prompt
    return batch


def batch_indices(n_examples: int, batch_size: int, seed: int, step: int) -> list[int]:
    """Indices of the examples in micro-batch `step`: epochs of seeded shuffles, laid end to end."""
    first = step * batch_size
    indices = []
    for position in range(first, first + batch_size):
        epoch, offset = divmod(position, n_examples)
        indices.append(_epoch_order(n_examples, seed, epoch)[offset])
    return indices


_ORDER_CACHE: dict = {}


def _epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    key = (n, seed, epoch)
    if key not in _ORDER_CACHE:
        order = list(range(n))
        random.Random(f"{seed}:{epoch}").shuffle(order)
        _ORDER_CACHE[key] = order
    return _ORDER_CACHE[key]
