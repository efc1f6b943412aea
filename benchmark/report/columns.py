"""A leaderboard row (`Row`) and its derived columns, each computed from its cell's runs: the
minimum detectable effect of the seed mean, the collapse rate's change, the flips, and the
difference from ft."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from promot_bench.evaluate.flips import from_samples_file
from promot_bench.evaluate.samples import by_phase
from promot_bench.evaluate.statistics import (
    item_values,
    mde,
    mean_stderr,
    paired_bootstrap,
    seed_mean_se,
)


@dataclass
class Row:
    label: str
    tuner: str
    train: str
    seeds: list[int]
    target: tuple | None  # (task, mean, stderr)
    tasks: dict[str, tuple]  # task -> (mean, stderr)
    mean: tuple
    delta_mean: tuple | None = None
    significant: str = ""  # "*" when every seed's Δ-mean interval excludes 0 on the same side
    # mean in-context score minus ft's on the same target, items, seed
    versus_ft: tuple | None = None
    versus_ft_significant: str = ""
    versus_ft_mde: float | None = None  # of vs ft's seed mean, as `mde` is of Δ mean's
    mde: float | None = None  # of the seed mean's Δ mean; None where a result predates it
    # Δ share (points) of outputs in the target's format, probe mean
    format_delta: tuple | None = None
    format_significant: str = ""
    format_tasks: dict | None = None  # task -> seed mean of the Δ share, for the collapse heatmap
    flips: tuple | None = None  # seed means of the items lost and gained over all probes, and of n
    flips_tasks: dict | None = None  # task -> seed means of its items lost and gained
    flips_detail: dict | None = None  # task -> the lowest seed's flips entry (counts and examples)
    task_ci: dict | None = None  # task -> (low, high) of Δ's 95% interval, for a one-seed row
    # several targets (multi-task, sequential): task -> (mean, stderr) of each one's own score,
    # shown instead of their mean (an accuracy averaged with a chrF says little)
    per_target: dict | None = None


def after_items(result: dict, phase: str = "after") -> dict:
    """task -> per-item values after tuning (or in another `phase`), from the run's samples file."""
    return {
        task: item_values(items)
        for task, items in by_phase(result["_samples"]).get(phase, {}).items()
    }


def cell_mde(cell: list[dict]) -> float | None:
    """The mde of the cell's seed mean of Δ mean: one seed's own `mde`; for several, 2.8 × the SE
    with seeds and items both resampled, from the samples files. None when any run predates mde
    (so a column never mixes the two kinds of cell)."""
    if any(r.get("mde") is None for r in cell):
        return None
    if len(cell) == 1:
        return cell[0]["mde"]
    if not all(r["_samples"] and Path(r["_samples"]).is_file() for r in cell):
        return None
    runs = []
    for r in sorted(cell, key=lambda r: r["seed"]):
        before, after = after_items(r, "before"), after_items(r)
        runs.append(
            {
                t: (r["before"][t].get("aggregation", "mean"), before[t], after[t])
                for t in r["before"]
            }
        )
    return mde(seed_mean_se(runs, iters=1000, seed=0))


def collapse_columns(row: Row, cell: list[dict], tasks: list[str]) -> None:
    """The collapse rate's change over seeds (probe mean and per probe), where every run has one."""
    if any(not r.get("collapse") for r in cell):
        return
    row.format_delta = mean_stderr([r["collapse"]["mean"]["delta"] for r in cell])
    sides = {
        "above" if c["low"] > 0 else "below" if c["high"] < 0 else "none"
        for c in (r["collapse"]["mean"]["ci"] for r in cell)
    }
    row.format_significant = "*" if len(sides) == 1 and sides != {"none"} else ""
    row.format_tasks = {
        t: sum(r["collapse"][t]["delta"] for r in cell) / len(cell)
        for t in tasks
        if all(t in r["collapse"] for r in cell)
    }


def run_flips(result: dict) -> dict | None:
    """The run's per-item flips: recorded in the result, or re-derived from its samples file
    (results written before flips were recorded); None where neither is there."""
    if result.get("flips"):
        return result["flips"]
    if result["_samples"] and Path(result["_samples"]).is_file():
        return from_samples_file(
            result["_samples"], {t: v.get("aggregation") for t, v in result["before"].items()}
        )
    return None


def flips_columns(row: Row, cell: list[dict], tasks: list[str]) -> None:
    """Seed means of the items lost and gained, over all probes and per probe."""
    found = [run_flips(r) for r in cell]
    if any(f is None for f in found):
        return
    row.flips = tuple(
        sum(f["total"][k] for f in found) / len(found) for k in ("lost", "gained", "n")
    )
    row.flips_tasks = {
        t: tuple(sum(f[t][k] for f in found) / len(found) for k in ("lost", "gained"))
        for t in tasks
        if all(t in f for f in found)
    }
    lowest = min(range(len(cell)), key=lambda i: cell[i]["seed"])
    row.flips_detail = {t: found[lowest][t] for t in tasks if t in found[lowest]}


def versus_ft(row: Row, cell: list[dict], ft_runs: list[dict]) -> None:
    """Paired bootstrap of this tuner's mean in-context score minus ft's, seed by seed, and the
    mde of its seed mean (one seed: the paired bootstrap's; several: seeds and items both
    resampled, as `cell_mde`)."""
    ft_by_seed = {r["seed"]: r for r in ft_runs}
    deltas, sides, paired, ses = [], set(), [], []
    for run in sorted(cell, key=lambda r: r["seed"]):
        ft = ft_by_seed.get(run["seed"])
        if ft is None or not run["_samples"] or not ft["_samples"]:
            continue
        ours, theirs = after_items(run), after_items(ft)
        tasks = {
            t: (run["after"][t].get("aggregation", "mean"), theirs[t], ours[t])
            for t in run["after"]
        }
        mean_ci = paired_bootstrap(tasks, iters=1000, seed=run["seed"])["mean"]
        deltas.append(mean_ci["delta"])
        sides.add("above" if mean_ci["low"] > 0 else "below" if mean_ci["high"] < 0 else "none")
        paired.append(tasks)
        ses.append(mean_ci["se"])
    if deltas:
        row.versus_ft = mean_stderr(deltas)
        row.versus_ft_significant = "*" if len(sides) == 1 and sides != {"none"} else ""
        se = ses[0] if len(paired) == 1 else seed_mean_se(paired, iters=1000, seed=0)
        row.versus_ft_mde = mde(se)  # None where there is no SE
