"""Forgetting against training budget, and what each tuner trades for it.

From the result files alone, per (model, eval group, shots, preset, target):
- dose curves: x = training examples per stage (log scale), y = Δ in-context mean with its
  interval, the collapse rate after tuning, and the target score; one line per tuner, drawn
  from the dose cells (`--steps N`: every stage N steps, the final weights kept);
- the learning–retention frontier: x = target score, y = Δ in-context mean, one point per
  tuner × budget (matrix cells with keep-best included, as stars) with both intervals, the
  marker's size growing with the budget, each tuner's dose cells joined in budget order, and the
  Pareto front (no other point is as good on both axes and better on one).

Intervals: for one seed (one trained model), Δ mean's 95% paired interval over items and ±1.96 ×
the target's stderr (for corpus chrF/BLEU, which lm-eval reports without one, the bootstrap
stderr over the target's items in the samples file); for several seeds, the 95% t interval over
seeds (n − 1 degrees of freedom): a point about the tuner.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from promot_bench.evaluate.seed_statistics import seed_test
from promot_bench.evaluate.statistics import AGGREGATIONS, item_stderr
from promot_bench.report import figures
from promot_bench.report.columns import after_items
from promot_bench.report.tables import group_label, model_title, rate_of
from promot_bench.run.suites import JOINERS

Z95 = 1.96


@dataclass
class Point:
    tuner: str
    budget: str | None  # the budget label (None: the preset's own)
    examples: int  # training examples per stage
    keep_best: bool
    seeds: int
    delta: tuple  # (value, low, high): Δ in-context mean
    target: tuple  # (value, low, high): the target score, prompt attached
    collapse: (
        tuple | None
    )  # (value, low, high): % of outputs in the target's format after, probe mean

    @property
    def label(self) -> str:
        return f"{self.tuner} · {self.examples:,} ex" + (" (best)" if self.keep_best else "")


def examples_per_stage(result: dict) -> int:
    """From the result's budget: a dose from checkpoints counts its dosed (last) stage's
    examples, other budgets their longest stage's; results written before budgets were recorded:
    their config's model-stage steps × batch."""
    budget = result.get("budget")
    if budget and budget.get("dose"):
        return budget["dose"]["examples"]
    if budget:
        return budget["examples_per_stage"]
    cfg = result.get("config") or {}
    return cfg.get("steps", 0) * cfg.get("batch_size", 0) * cfg.get("grad_accum", 1)


def keep_best(result: dict) -> bool:
    budget = result.get("budget")
    return bool(
        budget["keep_best"] if budget else (result.get("config") or {}).get("keep_best", True)
    )


def target_stderr(result: dict) -> float | None:
    """The tuned target score's stderr: lm-eval's, else `item_stderr` over the target's items
    in the run's samples file; None without either."""
    tuned = result["target"]["tuned"]
    if tuned.get("stderr") is not None:
        return tuned["stderr"]
    path, aggregation = result.get("_samples"), tuned.get("aggregation") or "mean"
    if not path or not Path(path).is_file() or aggregation not in AGGREGATIONS:
        return None
    items = after_items(result, "target_tuned").get(result["target_task"])
    return item_stderr(items, aggregation) if items else None


def spread(values: list[float], one: tuple | None) -> tuple:
    """(mean, low, high): one seed's own interval (`one`), or the 95% t interval over seeds."""
    if len(values) == 1:
        return (values[0], *one) if one else (values[0], values[0], values[0])
    test = seed_test(values)
    return test.mean, test.low, test.high


def point(cell: list[dict]) -> Point:
    first = cell[0]
    deltas = [r["mean"]["delta"] for r in cell]
    ci = first["delta_ci"]["mean"]
    targets = [r["target"]["tuned"]["score"] for r in cell]
    stderr = target_stderr(first) if len(cell) == 1 else None
    one_target = (targets[0] - Z95 * stderr, targets[0] + Z95 * stderr) if stderr else None
    collapse = None
    if all((r.get("collapse") or {}).get("mean") for r in cell):
        shares = [r["collapse"]["mean"]["after"] for r in cell]
        c = first["collapse"]["mean"]
        collapse = spread(shares, (c["before"] + c["ci"]["low"], c["before"] + c["ci"]["high"]))
    return Point(
        line_name(first),
        (first.get("budget") or {}).get("label"),
        examples_per_stage(first),
        keep_best(first),
        len(cell),
        spread(deltas, (ci["low"], ci["high"])),
        spread(targets, one_target),
        collapse,
    )


def points(results: list[dict]) -> dict:
    """(model, group, shots, preset, target task) -> its points, one per tuner × budget."""
    cells = defaultdict(list)
    for r in results:
        key = (
            r["model"]["name"],
            group_label(r),
            r["shots"],
            r.get("preset", ""),
            r["target_task"],
        )
        cells[key + (line_name(r), (r.get("budget") or {}).get("label"))].append(r)
    grouped = defaultdict(list)
    for key, cell in sorted(cells.items(), key=lambda kv: tuple(str(k) for k in kv[0])):
        grouped[key[:5]].append(point(cell))
    return dict(grouped)


def line_name(result: dict) -> str:
    """A tuner's line: the tuner, with its learning rate where that is not the preset's own (a
    tuner at three rates draws three lines and three paths on the frontier)."""
    rate = rate_of(result)
    return result["tuner"] + (f" {rate}" if rate else "")


def dose_lines(found: list[Point]) -> dict:
    """tuner -> its dose cells (final weights) by budget, where it has at least two budgets."""
    lines = defaultdict(list)
    for p in found:
        if not p.keep_best:
            lines[p.tuner].append(p)
    return {
        t: sorted(ps, key=lambda p: p.examples) for t, ps in sorted(lines.items()) if len(ps) >= 2
    }


def pareto(found: list[Point]) -> list[Point]:
    """The points no other point matches on both target score and Δ mean while beating on one,
    by target score."""

    def dominated(p: Point) -> bool:
        return any(
            q.target[0] >= p.target[0]
            and q.delta[0] >= p.delta[0]
            and (q.target[0] > p.target[0] or q.delta[0] > p.delta[0])
            for q in found
        )

    return sorted((p for p in found if not dominated(p)), key=lambda p: (p.target[0], p.delta[0]))


def slug(key: tuple) -> str:
    model, group, shots, preset, target = key
    return f"{model}-{group}-{shots}shot-{preset}-{target}"


def title(key: tuple, wrap: bool = False) -> str:
    model, group, shots, preset, target = key
    return (
        f"{model_title(model)} · {group} ({shots}-shot) · {preset}"
        + ("\n" if wrap else " · ")
        + f"target {target}"
    )


def errors(values: list[tuple]) -> list[list[float]]:
    """Error-bar lengths below and above; a percentile interval that does not contain its
    point (possible for skewed resamples) is drawn to the point on that side."""
    return [[max(0.0, v[0] - v[1]) for v in values], [max(0.0, v[2] - v[0]) for v in values]]


def plot_dose(key: tuple, lines: dict, path: Path) -> Path:
    plt = figures.pyplot()

    fig, axes = plt.subplots(3, 1, figsize=(6.5, 8.0), sharex=True)
    panels = [
        ("delta", "Δ in-context mean\n(points, 95% interval)"),
        ("collapse", "outputs in the target's\nformat after (%)"),
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
    from matplotlib.lines import Line2D

    fig, ax = plt.subplots(figsize=(8.0, 5.0))
    budgets = sorted({p.examples for p in found if p.examples > 0})
    by_tuner = defaultdict(list)
    for p in found:
        by_tuner[p.tuner].append(p)
    handles = []
    for tuner, ps in sorted(by_tuner.items()):
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
                    s=[
                        marker_area(p.examples, budgets) * (2 if marker == "*" else 1)
                        for p in drawn
                    ],
                    marker=marker,
                    color=colour,
                    edgecolors="black",
                    linewidths=0.4,
                    zorder=3,
                )
        handles.append(
            Line2D(
                [], [], color=colour, linestyle=figures.line_style(tuner), marker="o", label=tuner
            )
        )
    front = pareto(found)
    (front_line,) = ax.plot(
        [p.target[0] for p in front],
        [p.delta[0] for p in front],
        color="black",
        linewidth=1,
        linestyle="--",
        label="Pareto front",
    )
    handles.append(front_line)
    for b in budgets:  # the size key
        size = math.sqrt(marker_area(b, budgets))
        handles.append(
            Line2D([], [], color="grey", marker="o", linestyle="", markersize=size, label=f"{b:,}")
        )
    if any(p.keep_best for p in found):
        handles.append(
            Line2D([], [], color="grey", marker="*", linestyle="", markersize=10, label="keep-best")
        )
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
