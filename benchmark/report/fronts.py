"""Two tuners' learning–retention fronts compared: retention at matched target score.

Per (model, eval group, shots, preset, target) and seed, each tuner's points are its result files
at that seed — every budget, dose checkpoint and learning rate — at (x = target score, y = Δ
in-context mean). Its front is the Pareto front of those points (none is as good on both axes
and better on one), joined by straight lines in target-score order and extended flat below its
lowest target score (a tuner that reached a target score with some retention reaches every lower
one with at least that). The comparison is the mean vertical gap, tuner minus `ft`, from the
lowest target score either front reaches to the highest both reach: the area between the fronts
over that width, in Δ-mean points — how much more in-context ability the tuner keeps at the same
target score. Every seed both tuners ran gives a value. Over seeds: the seed-level t test
(`seed_statistics`; n − 1 degrees of freedom, its mde), a point about the tuners. Descriptive
beside the verdict: not in its Holm family, which was fixed before the fronts were compared.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from promot_bench.evaluate.seed_statistics import SeedTest, seed_test
from promot_bench.report.dose import title
from promot_bench.report.tables import group_label, markdown_section

REFERENCE = "ft"
GRID = 201  # points at which the two fronts are compared across the range compared
TITLE = "Fronts compared: retention at matched target score"
ABOUT = __doc__.split("\n\n", 1)[1].replace("\n", " ").strip()


@dataclass(frozen=True)
class Comparison:
    key: tuple  # (model, group, shots, preset, target)
    tuner: str
    gaps: dict  # seed -> mean gap (tuner - ft) over the target scores compared
    compared: tuple  # (low, high) target scores compared, mean over the seeds
    test: SeedTest | None  # over seeds (two or more)


def front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The Pareto front of (target score, Δ mean) points, by target score."""
    kept = {p for p in points if not any(q[0] >= p[0] and q[1] >= p[1] and q != p for q in points)}
    return sorted(kept)


def gap(ours: list[tuple], theirs: list[tuple]) -> tuple[float, tuple]:
    """The mean of (our front - their front) from the lowest target score either reaches to the
    highest both reach (each front flat below its first point: np.interp's ends), and that
    range."""
    low, high = min(ours[0][0], theirs[0][0]), min(ours[-1][0], theirs[-1][0])
    grid = np.linspace(low, high, GRID)
    mine = np.interp(grid, [p[0] for p in ours], [p[1] for p in ours])
    other = np.interp(grid, [p[0] for p in theirs], [p[1] for p in theirs])
    return float(np.mean(mine - other)), (low, high)


def comparisons(results: list[dict]) -> list[Comparison]:
    """Every tuner against `ft` where both have result files on the same key and seed."""
    points: dict = defaultdict(lambda: defaultdict(list))  # (key, tuner) -> seed -> points
    for r in results:
        key = (r["model"]["name"], group_label(r), r["shots"], r.get("preset", ""), r["train"])
        point = (r["target"]["tuned"]["score"], r["mean"]["delta"])
        points[(key, r["tuner"])][r["seed"]].append(point)
    found = []
    for (key, tuner), by_seed in sorted(points.items(), key=lambda kv: str(kv[0])):
        reference = points.get((key, REFERENCE), {})
        if tuner == REFERENCE or not reference:
            continue
        gaps, ranges = {}, []
        for seed in sorted(set(by_seed) & set(reference)):
            gaps[seed], reach = gap(front(by_seed[seed]), front(reference[seed]))
            ranges.append(reach)
        if gaps:
            compared = tuple(float(np.mean([r[i] for r in ranges])) for i in (0, 1))
            test = seed_test(list(gaps.values())) if len(gaps) > 1 else None
            found.append(Comparison(key, tuner, gaps, compared, test))
    return found


HEADER = [
    "cells",
    "tuner",
    "seeds",
    "target range",
    "gap vs ft (points)",
    "p",
    "mde",
]


def rows(found: list[Comparison]) -> list[list[str]]:
    out = []
    for c in found:
        values = list(c.gaps.values())
        if c.test is None:
            gap_text, p, mde = f"{values[0]:+.2f}", "–", "–"
        else:
            t = c.test
            gap_text, p, mde = (
                f"{t.mean:+.2f} [{t.low:+.2f}, {t.high:+.2f}]",
                f"{t.p:.3g}",
                (f"{t.mde:.2f}"),
            )
        out.append(
            [
                title(c.key),
                c.tuner,
                str(len(values)),
                f"{c.compared[0]:.1f}–{c.compared[1]:.1f}",
                gap_text,
                p,
                mde,
            ]
        )
    return out


def markdown(found: list[Comparison]) -> list[str]:
    """The section, or nothing where no tuner shares a key and seed with ft."""
    return markdown_section(TITLE, ABOUT, HEADER, rows(found)) if found else []
