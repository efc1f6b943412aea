"""Plots written the way every other output is: whole or not at all."""

from __future__ import annotations

from pathlib import Path

from promot_bench.store.atomic import replacing

# tab10 without its grey, which is kept for tuners the registry does not know.
PALETTE = (
    "tab:blue",
    "tab:orange",
    "tab:green",
    "tab:red",
    "tab:purple",
    "tab:brown",
    "tab:pink",
    "tab:olive",
    "tab:cyan",
)


def pyplot():
    """matplotlib's pyplot on the Agg backend: plots are files, never windows (no screen in CI).
    Imported on first use, so commands that draw nothing do not pay for it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def tuner_colour(name: str) -> str:
    """One colour per tuner in every plot, by its place in the registry (a tuner's line at
    another learning rate, "ft lr1e-05", keeps the tuner's colour; `line_style` tells them
    apart)."""
    from promot_bench.tuners import TUNERS

    names, base = list(TUNERS), name.split(" ")[0]
    return PALETTE[names.index(base) % len(PALETTE)] if base in names else "tab:gray"


def line_style(name: str) -> str:
    """Solid for a tuner at its preset's learning rate, dashed at another."""
    return "--" if " lr" in name else "-"


def save_png(fig, path: Path) -> Path:
    """Written beside and renamed: a plot is never half-written."""
    fig.tight_layout()
    with replacing(path, fault="png") as tmp:
        # bbox "tight": a title wider than its axes (a table's long name) is kept, not clipped
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return path
