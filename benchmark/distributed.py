"""How the training loop computes a step's loss and gradients: in one process, or data-parallel
(DDP) across the processes that `accelerate launch --multi_gpu` (or `torchrun`) starts.

Data-parallel training goes through accelerate (`Accelerator.prepare`: gloo on CPUs, NCCL on
GPUs). Every process builds the same global batch (batches are seeded), takes every
world-size-th row of it, and weighs its loss so that the averaged gradient equals the
single-process gradient of the whole batch: each row's target tokens count once, whichever
process holds them (tests/test_distributed.py checks the loss history against a single-process
run). The loss runs inside one wrapped forward (`LossModule`), so a soft prompt's embedding
lookup is part of the wrapped computation.

Only the main process evaluates, runs keep-best validation and writes files; the others train
beside it and take its decisions. FSDP and DeepSpeed launches are refused for now: after
sharded training the main process would need the gathered weights to evaluate, which is not
built yet (accelerate runs FSDP on GPUs only, so it could not be tested here).
"""

from __future__ import annotations

import os

import torch

from .train_data import IGNORE, collate


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def on_device(batch: dict, device) -> dict:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def target_count(batch: dict, shifted: bool) -> int:
    labels = batch["labels"][:, 1:] if shifted else batch["labels"]
    return int((labels != IGNORE).sum())


class SingleProcess:
    """The plain case: the whole batch here, the loop's own loss function."""

    def __init__(self, model, soft_prompt, label_smoothing: float, trainable: list):
        self.model, self.soft_prompt, self.label_smoothing = model, soft_prompt, label_smoothing
        self.trainable = trainable

    def loss(self, rows: list[dict], pad_id: int) -> tuple[torch.Tensor, dict]:
        """(the loss to backpropagate, the batch it came from)."""
        from .training import compute_loss

        batch = on_device(collate(rows, pad_id), self.model.device)
        return compute_loss(self.model, batch, self.soft_prompt, self.label_smoothing), batch

    def backward(self, loss: torch.Tensor) -> float:
        loss.backward()
        return loss.item()

    def clip(self, max_norm: float) -> None:
        torch.nn.utils.clip_grad_norm_(self.trainable, max_norm)

    def decide(self, compute):
        return compute()

    def barrier(self) -> None:
        pass



class LossModule(torch.nn.Module):
    """The training loss as one module, so DDP/FSDP wrap a single forward call."""

    def __init__(self, model, soft_prompt, label_smoothing: float):
        super().__init__()
        self.model = model
        self.soft_prompt = soft_prompt
        self.label_smoothing = label_smoothing

    def forward(self, batch: dict) -> torch.Tensor:
        from .training import plain_loss

        return plain_loss(self.model, batch, self.soft_prompt, self.label_smoothing)


class DataParallel(SingleProcess):
    def __init__(self, model, soft_prompt, label_smoothing: float, trainable: list, optimizer):
        from accelerate import Accelerator

        from datetime import timedelta

        from accelerate.utils import DistributedType, InitProcessGroupKwargs

        from .errors import UsageError

        super().__init__(model, soft_prompt, label_smoothing, trainable)
        # The other processes wait while the main one evaluates the baseline: allow hours.
        self.accelerator = Accelerator(cpu=not torch.cuda.is_available(),
                                       kwargs_handlers=[InitProcessGroupKwargs(timeout=timedelta(hours=12))])
        if self.accelerator.distributed_type not in (DistributedType.MULTI_CPU, DistributedType.MULTI_GPU):
            raise UsageError(f"{self.accelerator.distributed_type.value} launches are not supported yet: "
                             "use plain data parallelism (accelerate launch --multi_gpu --num_processes N)")
        self.rank, self.world = self.accelerator.process_index, self.accelerator.num_processes
        # DDP leaves frozen parameters out of the gradient reduction (they need no grad).
        self.module, self.optimizer = self.accelerator.prepare(LossModule(model, soft_prompt, label_smoothing),
                                                               optimizer)
        self.shifted = not model.config.is_encoder_decoder

    def loss(self, rows: list[dict], pad_id: int) -> tuple[torch.Tensor, dict]:
        whole = collate(rows, pad_id)
        mine = on_device(collate(rows[self.rank::self.world], pad_id), self.accelerator.device)
        # Mean over this process's target tokens -> its share of the whole batch's sum, times
        # the world size because DDP averages gradients over processes.
        share = target_count(mine, self.shifted) / target_count(whole, self.shifted)
        return self.module(mine) * share * self.world, whole

    def backward(self, loss: torch.Tensor) -> float:
        self.accelerator.backward(loss)
        total = loss.detach() / self.world
        torch.distributed.all_reduce(total)  # the whole batch's mean loss, on every process
        return total.item()

    def clip(self, max_norm: float) -> None:
        self.accelerator.clip_grad_norm_(self.module.parameters(), max_norm)

    def decide(self, compute):
        """`compute()` on the main process; every process gets its value."""
        value = [compute() if self.rank == 0 else None]
        torch.distributed.broadcast_object_list(value, src=0)
        return value[0]

    def barrier(self) -> None:
        self.accelerator.wait_for_everyone()


def strategy(model, soft_prompt, label_smoothing: float, trainable: list, optimizer):
    if world_size() > 1:
        return DataParallel(model, soft_prompt, label_smoothing, trainable, optimizer)
    return SingleProcess(model, soft_prompt, label_smoothing, trainable)
