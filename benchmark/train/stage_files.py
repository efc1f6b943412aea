"""A stage's files: the trainable tensors (safetensors), the resumable checkpoint (`latest.pt`)
and the finished stage's report (`done.json`); each refused in one line where damaged."""

from __future__ import annotations

from pathlib import Path

import torch

from promot_bench.errors import RunError
from promot_bench.store.atomic import replacing


def save_safetensors(path: Path, tensors: dict) -> None:
    from safetensors.torch import save_file

    with replacing(path, fault=None) as tmp:
        save_file(tensors, str(tmp))


def read_safetensors(path: Path) -> dict:
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as exc:
        raise RunError(
            f"checkpoint {path} is damaged ({type(exc).__name__}); delete it to retrain"
        ) from None


def write_checkpoint(path: Path, state: dict) -> None:
    with replacing(path, fault="checkpoint") as tmp:
        torch.save(state, tmp)


def read_checkpoint(path: Path) -> dict:
    try:
        return torch.load(path, weights_only=False)
    except Exception as exc:
        raise RunError(
            f"checkpoint {path} is damaged ({type(exc).__name__}); delete it to restart the stage"
        ) from None


def tensors_of(stage) -> dict[str, torch.Tensor]:
    """A copy of what the stage (`training.Stage`) trains, by name."""
    return {name: t.detach().clone().contiguous() for name, (t, _) in stage.trainable.items()}


def load_tensors(stage, tensors: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for name, (t, _) in stage.trainable.items():
            t.copy_(tensors[name])
