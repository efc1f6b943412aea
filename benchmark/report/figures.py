"""Plots written the way every other output is: whole or not at all."""

from __future__ import annotations

from pathlib import Path

from promot_bench.store.atomic import replacing


def save_png(fig, path: Path) -> Path:
    """Written beside and renamed: a plot is never half-written."""
    fig.tight_layout()
    with replacing(path, fault="png") as tmp:
        fig.savefig(tmp, format="png", dpi=110, metadata={"Software": None})
    return path
