"""Forgetting against training budget, and what each tuner trades for it: the points of the dose
curves and the learning–retention frontier (drawn by `dose_plots.py`).

From the result files alone, per (model, eval group, shots, preset, target):
- dose curves: x = training examples per stage (log scale), y = Δ in-context mean with its
  interval, the collapse rate after tuning, and the target score; one line per tuner, drawn
  from the dose cells (`--budget N`: every stage N steps, the final weights kept);
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

from collections import defaultdict
from dataclasses import dataclass

from promot_bench.evaluate.seed_statistics import seed_test
from promot_bench.evaluate.statistics import AGGREGATIONS, item_stderr
from promot_bench.report.columns import after_items
from promot_bench.report.tables import group_label, model_title, rate_of

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
    aggregation = tuned.get("aggregation") or "mean"
    if not result.samples_file or aggregation not in AGGREGATIONS:
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
