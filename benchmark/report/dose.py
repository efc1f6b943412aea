"""Forgetting against training budget, and what each tuner trades for it.

From the result files alone, per (model, eval group, shots, preset, target):
- dose curves: x = training examples per stage (log scale), y = Δ in-context mean with its
  interval, the collapse rate after tuning, and the target score; one line per tuner, drawn
  from the dose cells (`--steps N`: every stage N steps, the final weights kept);
- the learning–retention frontier: x = target score, y = Δ in-context mean, one point per
  tuner × budget (matrix cells with keep-best included) with both intervals, and the Pareto
  front (no other point is as good on both axes and better on one).

Intervals: for one seed, Δ mean's 95% paired bootstrap interval and ±1.96 × the target's
stderr (for corpus chrF/BLEU, which lm-eval reports without one, the bootstrap stderr over the
target's items in the samples file); for several, ±1.96 × the stderr over seeds.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from promot_bench.evaluate.statistics import AGGREGATIONS, bootstrap_stderr, mean_stderr
from promot_bench.report import figures
from promot_bench.report.columns import after_items
from promot_bench.report.tables import group_label

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
    """From the result's budget; results written before budgets were recorded: their config's
    model-stage steps × batch."""
    budget = result.get("budget")
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
    """The tuned target score's stderr: lm-eval's, else the bootstrap over the target's items
    in the run's samples file; None without either."""
    tuned = result["target"]["tuned"]
    if tuned.get("stderr") is not None:
        return tuned["stderr"]
    path, aggregation = result.get("_samples"), tuned.get("aggregation") or "mean"
    if not path or not Path(path).is_file() or aggregation not in AGGREGATIONS:
        return None
    items = after_items(result, "target_tuned").get(result["target_task"])
    return bootstrap_stderr(items, aggregation) if items else None


def spread(values: list[float], one: tuple | None) -> tuple:
    """(mean, low, high): one seed's own interval (`one`), or ±1.96 stderr over seeds."""
    centre, stderr = mean_stderr(values)
    if len(values) == 1:
        return (centre, *one) if one else (centre, centre, centre)
    return centre, centre - Z95 * stderr, centre + Z95 * stderr


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
        first["tuner"],
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
        cells[key + (r["tuner"], (r.get("budget") or {}).get("label"))].append(r)
    grouped = defaultdict(list)
    for key, cell in sorted(cells.items(), key=lambda kv: tuple(str(k) for k in kv[0])):
        grouped[key[:5]].append(point(cell))
    return dict(grouped)


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
        f"{model} · {group} ({shots}-shot) · {preset}"
        + ("\n" if wrap else " · ")
        + f"target {target}"
    )


def errors(values: list[tuple]) -> list[list[float]]:
    """Error-bar lengths below and above; a percentile interval that does not contain its
    point (possible for skewed resamples) is drawn to the point on that side."""
    return [[max(0.0, v[0] - v[1]) for v in values], [max(0.0, v[2] - v[0]) for v in values]]


def plot_dose(key: tuple, lines: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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


# Tuners' points often sit on one spot (every tuner near Δ 0): each tuner of a plot labels its
# points on its own side (by its place in that plot, so up to four never share a side), in its
# own colour, so the labels stay apart and name their tuner.
LABEL_OFFSETS = [(4, 4), (-4, -10), (4, -10), (-4, 4)]


def plot_frontier(key: tuple, found: list[Point], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 5.0))
    by_tuner = defaultdict(list)
    for p in found:
        by_tuner[p.tuner].append(p)
    for i, (tuner, ps) in enumerate(sorted(by_tuner.items())):
        colour, offset = figures.tuner_colour(tuner), LABEL_OFFSETS[i % len(LABEL_OFFSETS)]
        bars = ax.errorbar(
            [p.target[0] for p in ps],
            [p.delta[0] for p in ps],
            xerr=errors([p.target for p in ps]),
            yerr=errors([p.delta for p in ps]),
            fmt="o",
            capsize=2,
            elinewidth=0.8,
            color=colour,
            label=tuner,
        )
        for line in bars.lines[1] + bars.lines[2]:  # the bars: light, so points and labels read
            line.set_alpha(0.45)
        for p in ps:
            ax.annotate(
                f"{p.examples:,}" + ("*" if p.keep_best else ""),
                (p.target[0], p.delta[0]),
                fontsize=7,
                color=colour,
                xytext=offset,
                textcoords="offset points",
                ha="left" if offset[0] > 0 else "right",
            )
    front = pareto(found)
    ax.plot(
        [p.target[0] for p in front],
        [p.delta[0] for p in front],
        color="black",
        linewidth=1,
        linestyle="--",
        label="Pareto front",
    )
    ax.axhline(0, color="grey", linewidth=0.6)
    ax.set_xlabel("target score (prompt attached; 95% interval)")
    ax.set_ylabel("Δ in-context mean (points; 95% interval)")
    ax.set_title(
        f"Learning–retention frontier\n{title(key, wrap=True)}\nlabels: examples per stage; "
        "* = keep-best (the preset's own)",
        fontsize=9,
    )
    ax.legend(fontsize=8)
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
