"""The leaderboard's tables, built from result files alone: one per (model, eval group, budget),
a row for the pretrained model and one per (tuner, target) with seed means ± stderr, and the
cells every output shares (the Markdown and CSV files, the page)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from promot_bench.errors import RunError
from promot_bench.evaluate.statistics import mean_stderr


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
    versus_ft: tuple | None = (
        None  # mean in-context score minus ft's on the same target, items, seed
    )
    versus_ft_significant: str = ""
    mde: float | None = None  # of the seed mean's Δ mean; None where a result predates it
    format_delta: tuple | None = (
        None  # Δ share (points) of outputs in the target's format, probe mean
    )
    format_significant: str = ""
    format_tasks: dict | None = None  # task -> seed mean of the Δ share, for the collapse heatmap
    flips: tuple | None = None  # seed means of the items lost and gained over all probes, and of n
    flips_tasks: dict | None = None  # task -> seed means of its items lost and gained
    flips_detail: dict | None = None  # task -> the lowest seed's flips entry (counts and examples)
    task_ci: dict | None = None  # task -> (low, high) of Δ's 95% interval, for a one-seed row


@dataclass
class Table:
    model: str
    group: str
    shots: int
    tasks: list[str]
    setting: str | None = None  # the cells' preset and budget where not the default preset's own
    commits: dict = field(default_factory=dict)  # the code its cells' results record -> how many
    rows: list[Row] = field(default_factory=list)
    lower_is_better: set = field(default_factory=set)  # tasks whose metric falls as it improves

    def column(self, task: str) -> str:
        return short(task) + (" ↓" if task in self.lower_is_better else "")

    @property
    def title(self) -> str:
        return f"{self.model} · {self.group} ({self.shots}-shot)" + (
            f" · {self.setting}" if self.setting else ""
        )

    @property
    def slug(self) -> str:
        return f"{self.model}-{self.group}" + (f"-{self.setting}" if self.setting else "")


def load_results(out: Path) -> list[dict]:
    results = []
    for path in sorted((out / "runs").glob("**/seed*.json")):
        try:
            result = json.loads(path.read_text())
            result["_path"] = str(path.relative_to(out))
            result["_samples"] = (
                str(path.with_name(result["samples"])) if result.get("samples") else ""
            )
            _ = result["before"], result["after"], result["target"], result["mean"]
        except (ValueError, KeyError, TypeError) as exc:
            raise RunError(
                f"result file {path} is damaged ({type(exc).__name__}); delete it and rerun "
                "its `promot-bench run`"
            ) from None
        results.append(result)
    return results


def short(task: str) -> str:
    """A task's name without the suite prefix (each part of a multi-task or sequential name)."""
    for joiner in ("+", "-then-"):
        if joiner in task:
            return joiner.join(short(part) for part in task.split(joiner))
    for prefix in ("promot_mini_", "promot_"):
        if task.startswith(prefix):
            return task[len(prefix) :]
    return task


def build_tables(results: list[dict]) -> list[Table]:
    grouped = defaultdict(list)
    for r in results:  # never two presets, budgets or suite versions (groups) in one table
        grouped[(r["model"]["name"], r["eval_group"], r["shots"], setting(r))].append(r)
    tables = []
    for (model, group, shots, variant), runs in sorted(
        grouped.items(), key=lambda kv: (*kv[0][:3], kv[0][3] or "")
    ):
        tasks = list(runs[0]["before"])
        table = Table(
            model,
            group,
            shots,
            tasks,
            variant,
            commits=code_counts(runs),
            lower_is_better={
                t
                for r in runs
                for t, v in r["before"].items()
                if v.get("higher_is_better") is False
            },
        )
        # The pretrained scores are one cached evaluation per seed, repeated in every run of it.
        per_seed = {r["seed"]: r for r in runs}.values()
        pre = {t: mean_stderr([r["before"][t]["score"] for r in per_seed]) for t in tasks}
        pre_mean = mean_stderr([r["mean"]["before"] for r in per_seed])
        table.rows.append(
            Row("pretrained", "", "", sorted({r["seed"] for r in runs}), None, pre, pre_mean)
        )
        cells = defaultdict(list)
        for r in runs:
            cells[(r["tuner"], r["train"])].append(r)
        for (tuner, train), cell in sorted(cells.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            target_task = cell[0]["target_task"]
            sides = {
                "above"
                if r["delta_ci"]["mean"]["low"] > 0
                else "below"
                if r["delta_ci"]["mean"]["high"] < 0
                else "none"
                for r in cell
            }
            table.rows.append(
                Row(
                    f"{tuner} → {train}",
                    tuner,
                    train,
                    sorted(r["seed"] for r in cell),
                    (target_task, *mean_stderr([r["target"]["tuned"]["score"] for r in cell])),
                    {t: mean_stderr([r["after"][t]["score"] for r in cell]) for t in tasks},
                    mean_stderr([r["mean"]["after"] for r in cell]),
                    mean_stderr([r["mean"]["delta"] for r in cell]),
                    "*" if len(sides) == 1 and sides != {"none"} else "",
                )
            )
            if tuner != "ft":
                versus_ft(table.rows[-1], cell, cells.get(("ft", train), []))
            table.rows[-1].mde = cell_mde(cell)
            if len(cell) == 1:
                table.rows[-1].task_ci = {
                    t: (ci["low"], ci["high"])
                    for t, ci in cell[0]["delta_ci"].items()
                    if t in tasks
                }
            collapse_columns(table.rows[-1], cell, tasks)
            flips_columns(table.rows[-1], cell, tasks)
        pretrained_targets = {}
        for r in runs:
            pretrained_targets.setdefault(r["target_task"], []).append(
                r["target"]["pretrained"]["score"]
            )
        table.rows[0].target = (
            "; ".join(
                f"{short(t)} {sum(v) / len(v):.1f}" for t, v in sorted(pretrained_targets.items())
            ),
            None,
            None,
        )
        tables.append(table)
    return tables


def code_of(result: dict) -> str:
    """The code a result records: its commit (short; "+dirty" kept), else its source hash."""
    code = result.get("code") or {}
    commit = code.get("commit") or result.get("git_commit")
    if commit:
        return commit[:12] + ("+dirty" if commit.endswith("+dirty") else "")
    return f"source {code['source_sha256'][:12]}" if code.get("source_sha256") else "unrecorded"


def code_counts(runs: list[dict]) -> dict:
    counts = Counter(code_of(r) for r in runs)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def commits_line(table: Table) -> str:
    cells = sum(table.commits.values())
    listed = ", ".join(f"`{c}` ({n})" for c, n in table.commits.items())
    return f"Code: {listed} of {cells} result file{'s' if cells != 1 else ''}" + (
        " — more than one version of the code: compare its cells with care"
        if len(table.commits) > 1
        else ""
    )


def setting(result: dict) -> str | None:
    """A result's preset and training budget, where not the default preset at its own budget
    (results written before budgets were recorded ran at their preset's own)."""
    from promot_bench.config import DEFAULT_PRESET, variant

    return variant(result.get("preset", DEFAULT_PRESET), (result.get("budget") or {}).get("label"))


def after_items(result: dict, phase: str = "after") -> dict:
    """task -> per-item values after tuning (or in another `phase`), from the run's samples file."""
    from promot_bench.evaluate.samples import by_phase
    from promot_bench.evaluate.statistics import item_values

    return {
        task: item_values(items)
        for task, items in by_phase(result["_samples"]).get(phase, {}).items()
    }


def cell_mde(cell: list[dict]) -> float | None:
    """The mde of the cell's seed mean of Δ mean: one seed's own `mde`; for several, 2.8 × the SE
    with seeds and items both resampled, from the samples files. None when any run predates mde
    (so a column never mixes the two kinds of cell)."""
    from promot_bench.evaluate.statistics import mde, seed_mean_se

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
    from promot_bench.evaluate.flips import from_samples_file

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
    """Paired bootstrap of this tuner's mean in-context score minus ft's, seed by seed."""
    from promot_bench.evaluate.statistics import paired_bootstrap

    ft_by_seed = {r["seed"]: r for r in ft_runs}
    deltas, sides = [], set()
    for run in cell:
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
    if deltas:
        row.versus_ft = mean_stderr(deltas)
        row.versus_ft_significant = "*" if len(sides) == 1 and sides != {"none"} else ""


def fmt(value: tuple | None, signed: bool = False) -> str:
    if value is None or value[0] is None:
        return "–"
    number = f"{value[0]:+.1f}" if signed else f"{value[0]:.1f}"
    return number if value[1] is None else f"{number} ± {value[1]:.1f}"


def target_cell(row: Row) -> str:
    if row.target is None:
        return "–"
    if row.target[1] is None:
        return str(row.target[0])
    return f"{short(row.target[0])} {fmt(row.target[1:])}"


def row_cells(table: Table, row: Row) -> list[str]:
    def signed(value, mark):
        return fmt(value, signed=True) + (" *" if mark else "") if value else "–"

    return [
        row.label,
        str(len(row.seeds)),
        target_cell(row),
        *(fmt(row.tasks[t]) for t in table.tasks),
        fmt(row.mean),
        signed(row.delta_mean, row.significant),
        fmt((row.mde, None)),
        signed(row.versus_ft, row.versus_ft_significant),
        signed(row.format_delta, row.format_significant),
        flips_cell(row.flips),
    ]


def flips_cell(value: tuple | None) -> str:
    return "–" if value is None else f"−{value[0]:.0f} / +{value[1]:.0f}"


LEADING = ["model", "seeds", "target"]  # row_cells' first columns, before the eval tasks'
TRAILING = ["mean", "Δ mean", "mde", "vs ft", "format Δ", "flips −/+"]


def header(table: Table) -> list[str]:
    """The column names of `row_cells`."""
    return [*LEADING, *map(table.column, table.tasks), *TRAILING]
