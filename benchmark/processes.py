"""Process roles under a multi-process launch (`accelerate launch`, `torchrun`): how many
processes there are, which one is the main one (it alone reads and writes files), the process
group they share, the others taking the main one's decisions (`main_decides`), and the device
each computes on. The bottom layer: every package may ask who it is; the DDP/FSDP training
strategies live in `train/distributed.py`. torch is imported only where a group is involved."""

from __future__ import annotations

import os
import sys
from datetime import timedelta

from promot_bench.errors import UsageError

# The other processes wait while the main one evaluates the baseline: allow hours.
WAIT = timedelta(hours=12)


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def is_parallel() -> bool:
    """Whether this process has partners in a started process group."""
    import torch

    return (
        torch.distributed.is_available()
        and torch.distributed.is_initialized()
        and torch.distributed.get_world_size() > 1
    )


def init_group() -> None:
    """Join the launch's process group before anything collective runs (the baseline evaluation
    comes before training); a single process has none. Accelerate and FSDP reuse it."""
    import torch

    if world_size() == 1 or torch.distributed.is_initialized():
        return

    device = torch.device(default_device())
    if device.type == "cuda":
        torch.cuda.set_device(device)  # NCCL's object collectives use the current device
    torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=WAIT)


def end_group() -> None:
    """Leave the process group before the interpreter shuts down: gloo's worker threads still
    alive at exit can abort the process (`terminate called without an active exception`).
    Nothing to do where torch was never imported (`--help`, the leaderboard)."""
    if "torch.distributed" not in sys.modules:
        return
    import torch

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def main_decides(compute):
    """`compute()` on the main process only; every process gets its value."""
    if not is_parallel():
        return compute()
    import torch

    value = [compute() if is_main() else None]
    torch.distributed.broadcast_object_list(value, src=0)
    return value[0]


def launch_kind() -> str:
    """'single', 'ddp' or 'fsdp', from the environment the launcher set (an FSDP launch shards
    even with one process, so the sharded path can be checked on a single GPU)."""
    if os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true":
        raise UsageError(
            "DeepSpeed launches are not supported: use `accelerate launch --multi_gpu` (DDP) "
            "or `accelerate launch --use_fsdp` (FSDP)"
        )
    if os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true":
        return "fsdp"
    return "single" if world_size() == 1 else "ddp"


def default_device() -> str:
    """This process's GPU where there is one (under a multi-process launch, the one numbered
    by LOCAL_RANK), else the CPU."""
    import torch

    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return "cpu"
