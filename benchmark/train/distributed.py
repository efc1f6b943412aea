"""How the training loop computes a step's loss and gradients: in one process, data-parallel
(DDP), or fully sharded (FSDP), across the processes that `accelerate launch` (or `torchrun`)
starts.

Every process builds the same global batch (batches are seeded), takes every world-size-th
row of it, and weighs its loss so that the averaged gradient equals the single-process
gradient of the whole batch: each row's target tokens count once, whichever process holds
them (tests/train/test_distributed.py checks loss histories and weights against one process). The
loss runs inside one wrapped forward (`LossModule`), so a soft prompt's embedding lookup is
part of the wrapped computation.

- DDP (`accelerate launch --multi_gpu --num_processes N`): through `Accelerator.prepare`
  (gloo on CPUs, NCCL on GPUs).
- FSDP (`accelerate launch --use_fsdp --num_processes N`): through PyTorch's own
  `fully_shard` (FSDP2; one shard group per transformer block, one for the rest), not through
  accelerate, whose FSDP path needs an accelerator device: on CPUs its launch leaves the
  processes unconnected, so it could not be tested here. The shards train a copy of the
  model; `sync()` gathers the trained tensors back into the runner's model (at validation,
  checkpoints and the end), which the evaluations use. Gradients, optimizer state and
  the training copy are sharded; every process also keeps the full weights it loaded.

Evaluation is data-parallel too: every process runs each evaluation on its share of the items
through lm-eval's own multi-process protocol (`PromptLM` joins the process group that
`init_group` starts), and the main process gathers the scores. Only the main process reads
and writes files (caches, checkpoints, results); the others take its decisions
(`main_decides`). DeepSpeed launches are refused in one line.
"""

from __future__ import annotations

import copy
import os

import torch

from promot_bench.errors import UsageError
from promot_bench.processes import WAIT, launch_kind
from promot_bench.train import loss
from promot_bench.train.train_data import IGNORE, collate


def on_device(batch: dict, device) -> dict:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def target_count(batch: dict, shifted: bool) -> int:
    labels = batch["labels"][:, 1:] if shifted else batch["labels"]
    return int((labels != IGNORE).sum())


class SingleProcess:
    """The plain case: the whole batch here, the loop's own loss function."""

    kind = "single"

    def __init__(self, model, stage, label_smoothing: float):
        self.model, self.soft_prompt, self.label_smoothing = (
            model,
            stage.soft_prompt,
            label_smoothing,
        )
        # name -> (tensor, learning rate): what the optimizer steps
        self.trainable = stage.trainable

    def loss(self, rows: list[dict], pad_id: int) -> tuple[torch.Tensor, dict]:
        """(the loss to backpropagate, the batch it came from)."""
        batch = on_device(collate(rows, pad_id), self.model.device)
        return loss.compute_loss(self.model, batch, self.soft_prompt, self.label_smoothing), batch

    def backward(self, loss: torch.Tensor) -> float:
        loss.backward()
        return loss.item()

    def clip(self, max_norm: float) -> float:
        """Clip the gradients to `max_norm` in total; their norm before clipping."""
        norm = torch.nn.utils.clip_grad_norm_([t for t, _ in self.trainable.values()], max_norm)
        # Sharded gradients give a distributed tensor, already reduced over the processes.
        return float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)

    def barrier(self) -> None:
        pass

    def sync(self) -> None:
        """Make the runner's model hold the trained values (it already does here)."""

    def optimizer_state(self, optimizer) -> dict:
        return optimizer.state_dict()

    def load_optimizer_state(self, optimizer, state: dict) -> None:
        optimizer.load_state_dict(state)


class LossModule(torch.nn.Module):
    """The training loss as one module, so DDP/FSDP wrap a single forward call."""

    def __init__(self, model, soft_prompt, label_smoothing: float):
        super().__init__()
        self.model = model
        self.soft_prompt = soft_prompt
        self.label_smoothing = label_smoothing

    def forward(self, batch: dict) -> torch.Tensor:
        return loss.plain_loss(self.model, batch, self.soft_prompt, self.label_smoothing)


class Collective(SingleProcess):
    """What every multi-process strategy shares: the row split, the loss weighting, and
    the main process's decisions broadcast to the others. Subclasses set `self.module`."""

    def __init__(self, model, stage, label_smoothing: float):
        super().__init__(model, stage, label_smoothing)
        self.rank, self.world = torch.distributed.get_rank(), torch.distributed.get_world_size()
        self.shifted = not model.config.is_encoder_decoder
        self.device = model.device

    def loss(self, rows: list[dict], pad_id: int) -> tuple[torch.Tensor, dict]:
        whole = collate(rows, pad_id)
        mine = on_device(collate(rows[self.rank :: self.world], pad_id), self.device)
        # Mean over this process's target tokens -> its share of the whole batch's sum, times
        # the world size because DDP and FSDP average gradients over processes.
        share = target_count(mine, self.shifted) / target_count(whole, self.shifted)
        return self.module(mine) * share * self.world, whole

    def backward(self, loss: torch.Tensor) -> float:
        loss.backward()
        total = loss.detach() / self.world
        torch.distributed.all_reduce(total)  # the whole batch's mean loss, on every process
        return total.item()

    def barrier(self) -> None:
        torch.distributed.barrier()


class DataParallel(Collective):
    kind = "ddp"

    def __init__(self, model, stage, label_smoothing: float):
        from accelerate import Accelerator
        from accelerate.utils import DistributedType, InitProcessGroupKwargs

        self.accelerator = Accelerator(
            cpu=not torch.cuda.is_available(),
            kwargs_handlers=[InitProcessGroupKwargs(timeout=WAIT)],
        )
        if self.accelerator.distributed_type not in (
            DistributedType.MULTI_CPU,
            DistributedType.MULTI_GPU,
        ):
            raise UsageError(
                f"{self.accelerator.distributed_type.value} launches are not supported: use "
                "`accelerate launch --multi_gpu` (DDP) or `accelerate launch --use_fsdp` (FSDP)"
            )
        super().__init__(model, stage, label_smoothing)
        # DDP leaves frozen parameters out of the gradient reduction (they need no grad).
        self.module = self.accelerator.prepare(
            LossModule(model, stage.soft_prompt, label_smoothing)
        )


class FullySharded(Collective):
    kind = "fsdp"

    def __init__(self, model, stage, label_smoothing: float):
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        if not torch.distributed.is_initialized():
            backend = "nccl" if model.device.type == "cuda" else "gloo"
            if "MASTER_ADDR" in os.environ:
                torch.distributed.init_process_group(backend, timeout=WAIT)
            else:  # one process, started without a launcher
                torch.distributed.init_process_group(
                    backend, store=torch.distributed.HashStore(), rank=0, world_size=1
                )
        super().__init__(model, stage, label_smoothing)
        strategy = os.environ.get("FSDP_SHARDING_STRATEGY", "FULL_SHARD").upper()
        if strategy not in ("FULL_SHARD", "SHARD_GRAD_OP", "1", "2"):
            raise UsageError(
                f"FSDP sharding strategy {strategy} is not supported: use FULL_SHARD or "
                "SHARD_GRAD_OP"
            )
        # SHARD_GRAD_OP keeps the gathered weights from forward to backward (more memory, less
        # traffic).
        reshard = strategy in ("FULL_SHARD", "1")
        mesh = init_device_mesh(model.device.type, (self.world,))
        original = LossModule(model, stage.soft_prompt, label_smoothing)
        name_of = {id(t): name for name, t in original.named_parameters(remove_duplicate=False)}
        self.module = copy.deepcopy(
            original
        ).train()  # only ever trains; the runner's model validates
        blocks = set(getattr(model, "_no_split_modules", None) or ())
        for module in self.module.modules():
            if type(module).__name__ in blocks:
                fully_shard(module, mesh=mesh, reshard_after_forward=reshard)
        fully_shard(self.module, mesh=mesh, reshard_after_forward=reshard)
        shards = dict(self.module.named_parameters(remove_duplicate=False))
        self.trainable = {
            name: (shards[name_of[id(t)]], lr) for name, (t, lr) in stage.trainable.items()
        }
        # (the runner's tensor, its shard in the training copy), in one order on every process
        self.pairs = [(t, self.trainable[name][0]) for name, (t, _) in stage.trainable.items()]

    def sync(self) -> None:
        with torch.no_grad():
            for full, shard in self.pairs:
                full.copy_(shard.full_tensor())  # an all-gather: every process calls it in turn

    def optimizer_state(self, optimizer) -> dict:
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            get_optimizer_state_dict,
        )

        # The whole state, gathered on the main process (the one that writes checkpoints).
        return get_optimizer_state_dict(
            self.module, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True)
        )

    def load_optimizer_state(self, optimizer, state: dict) -> None:
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            set_optimizer_state_dict,
        )

        set_optimizer_state_dict(
            self.module,
            optimizer,
            state,
            options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=True),
        )


def strategy(model, stage, label_smoothing: float) -> SingleProcess:
    kind = launch_kind()
    if kind == "fsdp":
        return FullySharded(model, stage, label_smoothing)
    if kind == "ddp":
        return DataParallel(model, stage, label_smoothing)
    return SingleProcess(model, stage, label_smoothing)
