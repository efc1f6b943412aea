"""Plots written the way every other output is: whole or not at all."""

from __future__ import annotations

from pathlib import Path

from promot_bench.store import faults


def save_png(fig, path: Path) -> Path:
    """Written beside and renamed: a plot is never half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.tight_layout()
    fig.savefig(tmp, format="png", dpi=110, metadata={"Software": None})
    faults.point("png")
    tmp.replace(path)
    return path
