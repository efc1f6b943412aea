"""A leaderboard row (`Row`) and its derived columns, each computed from its cell's runs.

A row of several seeds is about its tuner: its Δ mean, its difference from `ft` and its collapse
change are seed-level tests (`seed_statistics`: one value per seed, t with n − 1 degrees of
freedom), whose p values the table corrects together (`tables.mark`). A row of one seed is about
one trained model: its intervals are over items (`statistics.paired_interval`), marked `†`, never
with a star.
"""

from __future__ import annotations

from dataclasses import dataclass

from promot_bench.evaluate.flips import from_samples_file
from promot_bench.evaluate.formats import breakdown
from promot_bench.evaluate.samples import by_phase
from promot_bench.evaluate.seed_statistics import SeedTest, paired_differences, seed_test
from promot_bench.evaluate.statistics import item_values, mde, mean_stderr, paired_interval


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
    # the seed-level tests behind the starred columns (None for one seed, or no data)
    delta_test: SeedTest | None = None
    versus_ft_test: SeedTest | None = None
    collapse_test: SeedTest | None = None
    # the marks the table gives them: "*" Holm-adjusted p < 0.05 over the table's tests; for one
    # seed "†" where its item-level interval excludes 0
    significant: str = ""
    delta_p: float | None = None  # the tests' Holm-adjusted p values (`tables.mark`)
    versus_ft_p: float | None = None
    collapse_p: float | None = None
    # mean in-context score minus ft's on the same target, items, seed
    versus_ft: tuple | None = None
    versus_ft_significant: str = ""
    versus_ft_mde: float | None = None  # of vs ft, as `mde` is of Δ mean's
    mde: float | None = None  # of the seed mean's Δ mean; None where a result predates it
    # Δ share (points) of outputs in the target's format, probe mean
    collapse_delta: tuple | None = None
    collapse_significant: str = ""
    collapse_tasks: dict | None = None  # task -> seed mean of the Δ share, for the collapse heatmap
    # Δ share (points) of broken outputs (empty, or echoing the cue), probe mean
    breakdown_delta: tuple | None = None
    breakdown_test: SeedTest | None = None
    breakdown_significant: str = ""
    breakdown_p: float | None = None
    # the field's forgetting measures, descriptive (no test: not in the table's Holm family):
    # the KL from the pretrained model (probe mean, nats) and the held-out text's Δ cross-entropy
    kl: tuple | None = None
    heldout_delta: tuple | None = None
    # a prompt-learning tuner's Δ mean with its prompt attached to every probe, as PEFT's method
    # comparison scores it: seed mean ± stderr, descriptive (the row's Δ mean is without it)
    after_attached: tuple | None = None
    flips: tuple | None = None  # seed means of the items lost and gained over all probes, and of n
    flips_tasks: dict | None = None  # task -> seed means of its items lost and gained
    flips_detail: dict | None = None  # task -> the lowest seed's flips entry (counts and examples)
    task_ci: dict | None = None  # task -> (low, high) of Δ's 95% interval, for a one-seed row
    # several targets (multi-task, sequential): task -> (mean, stderr) of each one's own score,
    # shown instead of their mean (an accuracy averaged with a chrF says little)
    per_target: dict | None = None

    def tests(self) -> list[tuple[str, SeedTest | None]]:
        """The row's starred columns (`<name>_p`, and the mark: `significant` for Δ mean,
        `<name>_significant` for the others) and their seed-level tests, in column order."""
        return [
            ("delta", self.delta_test),
            ("versus_ft", self.versus_ft_test),
            ("collapse", self.collapse_test),
            ("breakdown", self.breakdown_test),
        ]


def item_mark(interval: dict) -> str:
    """One seed's mark: its item-level 95% interval excludes 0 (about one trained model)."""
    return "†" if interval["low"] > 0 or interval["high"] < 0 else ""


def after_items(result: dict, phase: str = "after") -> dict:
    """task -> per-item values after tuning (or in another `phase`), from the run's samples file."""
    return {
        task: item_values(items)
        for task, items in by_phase(result.samples_file).get(phase, {}).items()
    }


def delta_columns(row: Row, cell: list[dict]) -> None:
    """Δ mean over seeds: its seed-level test and mde; one seed: its own item-level interval."""
    deltas = [r["mean"]["delta"] for r in sorted(cell, key=lambda r: r["seed"])]
    row.delta_mean = mean_stderr(deltas)
    if len(cell) == 1:
        row.significant = item_mark(cell[0]["delta_ci"]["mean"])
        row.mde = cell[0].get("mde")
        return
    row.delta_test = seed_test(deltas)
    row.mde = row.delta_test.mde


def collapse_columns(row: Row, cell: list[dict], tasks: list[str]) -> None:
    """The collapse rate's change over seeds (probe mean and per probe), where every run has one."""
    if any(not r.get("collapse") for r in cell):
        return
    changes = [r["collapse"]["mean"]["delta"] for r in cell]
    row.collapse_delta = mean_stderr(changes)
    if len(cell) == 1:
        row.collapse_significant = item_mark(cell[0]["collapse"]["mean"]["ci"])
    else:
        row.collapse_test = seed_test(changes)
    row.collapse_tasks = {
        t: sum(r["collapse"][t]["delta"] for r in cell) / len(cell)
        for t in tasks
        if all(t in r["collapse"] for r in cell)
    }


def run_breakdown(result: dict) -> dict | None:
    """The run's breakdown rate: recorded, or re-derived from its samples file (results written
    before it was recorded); None where neither is there."""
    if result.get("breakdown"):
        return result["breakdown"]
    if result.samples_file:
        phases = by_phase(result.samples_file)
        if "before" in phases and "after" in phases:
            wrap = {
                phase: {t: {"samples": v} for t, v in phases[phase].items()} for phase in phases
            }
            return breakdown(wrap["before"], wrap["after"], seed=result.get("seed", 0))
    return None


def breakdown_columns(row: Row, cell: list[dict]) -> None:
    """The breakdown rate's change over seeds (probe mean), where every run has one."""
    found = [run_breakdown(r) for r in sorted(cell, key=lambda r: r["seed"])]
    if any(f is None for f in found):
        return
    changes = [f["mean"]["delta"] for f in found]
    row.breakdown_delta = mean_stderr(changes)
    if len(cell) == 1:
        row.breakdown_significant = item_mark(found[0]["mean"]["ci"])
    else:
        row.breakdown_test = seed_test(changes)


def forgetting_columns(row: Row, cell: list[dict]) -> None:
    """Seed mean ± stderr of the KL (probe mean) and of the held-out cross-entropy's change,
    each where every run has it."""
    if all(r.get("kl") for r in cell):
        row.kl = mean_stderr([r["kl"]["mean"]["after"] for r in cell])
    if all(r.get("heldout_ce") for r in cell):
        row.heldout_delta = mean_stderr([r["heldout_ce"]["delta"] for r in cell])


def attached_columns(row: Row, cell: list[dict]) -> None:
    """Seed mean ± stderr of Δ mean with the prompt attached, where every run scored it."""
    if all(r.get("after_attached") for r in cell):
        deltas = [r["after_attached"]["delta_ci"]["delta"] for r in cell]
        row.after_attached = mean_stderr(deltas)


def run_flips(result: dict) -> dict | None:
    """The run's per-item flips: recorded in the result, or re-derived from its samples file
    (results written before flips were recorded); None where neither is there."""
    if result.get("flips"):
        return result["flips"]
    if result.samples_file:
        return from_samples_file(
            result.samples_file, {t: v.get("aggregation") for t, v in result["before"].items()}
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
    """This tuner's mean in-context score minus ft's, seed by seed (the same seed's batches and
    items): over several seeds their seed-level test and its mde; for one seed the paired
    interval over that seed's items."""
    ours = {r["seed"]: r["mean"]["after"] for r in cell}
    theirs = {r["seed"]: r["mean"]["after"] for r in ft_runs}
    differences = paired_differences(ours, theirs)
    if not differences:
        return
    row.versus_ft = mean_stderr(list(differences.values()))
    if len(differences) > 1:
        row.versus_ft_test = seed_test(differences.values())
        row.versus_ft_mde = row.versus_ft_test.mde
        return
    (seed,) = differences
    run = next(r for r in cell if r["seed"] == seed)
    ft = next(r for r in ft_runs if r["seed"] == seed)
    if not run.samples_file or not ft.samples_file:
        return
    mine, other = after_items(run), after_items(ft)
    tasks = {
        t: (run["after"][t].get("aggregation", "mean"), other[t], mine[t]) for t in run["after"]
    }
    interval = paired_interval(tasks, seed=seed)["mean"]
    row.versus_ft_significant = item_mark(interval)
    row.versus_ft_mde = mde(interval["se"])
