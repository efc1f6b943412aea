"""The dose curves and the learning–retention frontier drawn (their points: `dose.py`)."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

from promot_bench.evaluate.suites import JOINERS
from promot_bench.report import figures
from promot_bench.report.dose import Point, dose_lines, errors, pareto, points, slug, title


def plot_dose(key: tuple, lines: dict, path: Path) -> Path:
    plt = figures.pyplot()

    fig, axes = plt.subplots(3, 1, figsize=(6.5, 8.0), sharex=True)
    panels = [
        ("delta", "Δ in-context mean\n(points, 95% interval)"),
        ("collapse", "collapse after (% of outputs\nin the target's format)"),
        ("target", "target score"),
    ]
    for ax, (field, label) in zip(axes, panels):
        for tuner, ps in lines.items():
            shown = [p for p in ps if getattr(p, field) is not None]
            if shown:
                values = [getattr(p, field) for p in shown]
                ax.errorbar(
                    [p.examples for p in shown],
                    [v[0] for v in values],
                    yerr=errors(values),
                    marker="o",
                    capsize=3,
                    color=figures.tuner_colour(tuner),
                    linestyle=figures.line_style(tuner),
                    label=tuner,
                )
        if field == "delta":
            ax.axhline(0, color="black", linewidth=0.8)
        ax.set_ylabel(label)
        ax.set_xscale("log")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    axes[0].set_title(
        f"Dose\n{title(key, wrap=True)}\nfinal weights of each budget (keep-best off)", fontsize=9
    )
    budgets = sorted({p.examples for ps in lines.values() for p in ps})
    axes[-1].set_xticks(budgets, [f"{b:,}" for b in budgets])
    axes[-1].minorticks_off()
    axes[-1].set_xlabel("training examples per stage (log scale)")
    path = figures.save_png(fig, path)
    plt.close(fig)
    return path


def marker_area(examples: int, budgets: list[int]) -> float:
    """Marker area (points²), growing with the budget on a log scale: the smallest of the plot's
    distinct recorded `budgets` 30, the largest 150; a budget a result does not record (0) 90."""
    if examples <= 0 or len(budgets) < 2:
        return 90.0
    low, high = math.log(min(budgets)), math.log(max(budgets))
    return 30 + 120 * (math.log(examples) - low) / (high - low)


def plot_frontier(key: tuple, found: list[Point], path: Path) -> Path:
    """Each tuner's dose cells joined in budget order (a path through the plane as training
    grows), the budget as the marker's size and keep-best cells as stars: tuners' points often
    share a spot near Δ 0, where text labels ran into each other."""
    plt = figures.pyplot()

    fig, ax = plt.subplots(figsize=(8.0, 5.0))
    budgets = sorted({p.examples for p in found if p.examples > 0})
    by_tuner = defaultdict(list)
    for p in found:
        by_tuner[p.tuner].append(p)
    handles = [_tuner_path(ax, tuner, ps, budgets) for tuner, ps in sorted(by_tuner.items())]
    front = pareto(found)
    (front_line,) = ax.plot(
        [p.target[0] for p in front],
        [p.delta[0] for p in front],
        color="black",
        linewidth=1,
        linestyle="--",
        label="Pareto front",
    )
    handles += [front_line, *_size_key(budgets, any(p.keep_best for p in found))]
    ax.axhline(0, color="grey", linewidth=0.6)
    several = any(joiner in key[4] for joiner in JOINERS.values())
    # a mean of several targets has no per-item bootstrap: its interval exists over seeds only
    ax.set_xlabel(
        "mean of the targets' scores (prompt attached; 95% interval over seeds)"
        if several
        else "target score (prompt attached; 95% interval)"
    )
    ax.set_ylabel("Δ in-context mean (points; 95% interval)")
    ax.set_title(
        f"Learning–retention frontier\n{title(key, wrap=True)}\nmarker size: training examples "
        "per stage; a line joins a tuner's budgets\n"
        "(final weights); ★ keep-best (the preset's own)",
        fontsize=9,
    )
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3)
    path = figures.save_png(fig, path)
    plt.close(fig)
    return path


def _tuner_path(ax, tuner: str, ps: list[Point], budgets: list[int]):
    """One tuner's points with both intervals, its final-weights budgets joined by a line, its
    keep-best cells as stars; its legend handle."""
    from matplotlib.lines import Line2D

    colour = figures.tuner_colour(tuner)
    ps = sorted(ps, key=lambda p: (p.keep_best, p.examples))
    ax.errorbar(
        [p.target[0] for p in ps],
        [p.delta[0] for p in ps],
        xerr=errors([p.target for p in ps]),
        yerr=errors([p.delta for p in ps]),
        fmt="none",
        capsize=2,
        elinewidth=0.8,
        alpha=0.45,
        color=colour,
    )
    path_points = [p for p in ps if not p.keep_best]
    ax.plot(
        [p.target[0] for p in path_points],
        [p.delta[0] for p in path_points],
        color=colour,
        linestyle=figures.line_style(tuner),
        linewidth=1,
        label=tuner,
    )
    for marker, drawn in (("o", path_points), ("*", [p for p in ps if p.keep_best])):
        if drawn:
            ax.scatter(
                [p.target[0] for p in drawn],
                [p.delta[0] for p in drawn],
                s=[marker_area(p.examples, budgets) * (2 if marker == "*" else 1) for p in drawn],
                marker=marker,
                color=colour,
                edgecolors="black",
                linewidths=0.4,
                zorder=3,
            )
    return Line2D(
        [], [], color=colour, linestyle=figures.line_style(tuner), marker="o", label=tuner
    )


def _size_key(budgets: list[int], keep_best: bool) -> list:
    """The legend's key to marker sizes (training examples per stage), and keep-best's star."""
    from matplotlib.lines import Line2D

    handles = [
        Line2D(
            [],
            [],
            color="grey",
            marker="o",
            linestyle="",
            markersize=math.sqrt(marker_area(b, budgets)),
            label=f"{b:,}",
        )
        for b in budgets
    ]
    if keep_best:
        handles.append(
            Line2D([], [], color="grey", marker="*", linestyle="", markersize=10, label="keep-best")
        )
    return handles


def plots(results: list[dict], folder: Path) -> dict:
    """key -> {"dose": path, "frontier": path} for each (model, group, shots, preset, target)
    with something to show: a tuner at two or more budgets, or two or more points."""
    made = {}
    for key, found in points(results).items():
        files = {}
        lines = dose_lines(found)
        if lines:
            files["dose"] = plot_dose(key, lines, folder / f"dose-{slug(key)}.png")
        if len(found) >= 2 and not any(
            math.isnan(p.target[0]) or math.isnan(p.delta[0]) for p in found
        ):
            files["frontier"] = plot_frontier(key, found, folder / f"frontier-{slug(key)}.png")
        if files:
            made[key] = files
    return made
