"""The leaderboard's heatmaps: per table, tuned rows × eval tasks, coloured by Δ after tuning and
by the change in the collapse rate."""

from __future__ import annotations

import math
from pathlib import Path

from promot_bench.report.figures import pyplot, save_png
from promot_bench.report.tables import (
    Table,
    short,
)

COLORMAP = "RdBu"  # diverging around 0, red = worse (the page colours its cells with it too)


def plot(table: Table, folder: Path) -> dict:
    """A retention heatmap (rows × eval tasks, colour = Δ), the collapse heatmap beside it (colour =
    Δ share in the target's format; only where some row has one), and a bar chart of Δ mean."""
    plt = pyplot()

    tuned = table.rows[1:]
    if not tuned:
        return {}
    pre = table.rows[0].tasks
    files = {
        "retention heatmap": heatmap(
            table,
            [[row.tasks[t][0] - pre[t][0] for t in table.tasks] for row in tuned],
            "Δ score (prompt stripped)",
            f"In-context retention: {table.title}",
            folder / f"heatmap-{table.slug}.png",
        )
    }
    if any(row.collapse_tasks for row in tuned):  # older results carry no collapse rate
        files["collapse heatmap"] = heatmap(
            table,
            [[(row.collapse_tasks or {}).get(t, math.nan) for t in table.tasks] for row in tuned],
            "collapse Δ (% in the target's format)",
            f"Collapse into the target's format: {table.title}",
            folder / f"collapse-{table.slug}.png",
            cmap="RdBu_r",
        )  # a rise is the collapse: red
    fig, ax = plt.subplots(figsize=(6, 0.6 + 0.4 * len(tuned)))
    deltas = [r.delta_mean[0] for r in tuned]
    errors = [r.delta_mean[1] or 0.0 for r in tuned]
    ax.barh(
        range(len(tuned)),
        deltas,
        xerr=errors,
        color=["#b2182b" if d < 0 else "#2166ac" for d in deltas],
    )
    ax.set_yticks(range(len(tuned)), [r.label for r in tuned])
    ax.axvline(0, color="black", linewidth=0.8)
    ax.invert_yaxis()
    ax.set_xlabel("Δ mean in-context score vs pretrained (± stderr over seeds)")
    ax.set_title(table.title, fontsize=10)
    files["delta mean per tuner"] = save_png(fig, folder / f"delta-mean-{table.slug}.png")
    plt.close("all")
    return files


def heatmap(
    table: Table, grid: list[list[float]], label: str, title: str, path: Path, cmap: str = COLORMAP
) -> Path:
    """Tuned rows × eval tasks, colour = the value (diverging around 0, red = worse); NaN cells
    read "–"."""
    plt = pyplot()

    tuned = table.rows[1:]
    limit = max([1.0] + [abs(v) for line in grid for v in line if not math.isnan(v)])
    fig, ax = plt.subplots(
        figsize=(max(6.0, 2.0 + 0.9 * len(table.tasks)), 1.4 + 0.45 * len(tuned))
    )
    image = ax.imshow(grid, cmap=cmap, vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(len(table.tasks)), [short(t) for t in table.tasks], rotation=35, ha="right")
    ax.set_yticks(range(len(tuned)), [r.label for r in tuned])
    for i, line in enumerate(grid):
        for j, value in enumerate(line):
            ax.text(
                j,
                i,
                "–" if math.isnan(value) else f"{value:+.1f}",
                ha="center",
                va="center",
                fontsize=8,
            )
    fig.colorbar(image, ax=ax, label=label)
    ax.set_title(title, fontsize=10)
    return save_png(fig, path)
