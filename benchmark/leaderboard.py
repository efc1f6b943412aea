"""`promot-bench leaderboard`: tables and plots generated from the result files alone.

One table per (model, eval group): a row for the pretrained model and one per (tuner, target),
seed means ± stderr; columns: the target score, each eval task after tuning (prompt stripped),
the mean, Δ mean against the pretrained model, its minimum detectable effect (mde), and the
collapse rate's change (format Δ: the share of outputs in the target's format). Outputs (idempotent, written atomically):
results/LEADERBOARD.md, .csv, a self-contained .html (page.py), and PNG plots in results/plots/.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from . import dose, page, probes
from .cache import atomic_write_text
from .figures import save_png
from .errors import RunError
from .statistics import mean_stderr


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
    versus_ft: tuple | None = None  # mean in-context score minus ft's on the same target, items, seed
    versus_ft_significant: str = ""
    mde: float | None = None  # of the seed mean's Δ mean; None where a result predates it
    format_delta: tuple | None = None  # Δ share (points) of outputs in the target's format, probe mean
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
        return f"{self.model} · {self.group} ({self.shots}-shot)" + (f" · {self.setting}" if self.setting else "")

    @property
    def slug(self) -> str:
        return f"{self.model}-{self.group}" + (f"-{self.setting}" if self.setting else "")


def load_results(out: Path) -> list[dict]:
    results = []
    for path in sorted((out / "runs").glob("**/seed*.json")):
        try:
            result = json.loads(path.read_text())
            result["_path"] = str(path.relative_to(out))
            result["_samples"] = str(path.with_name(result["samples"])) if result.get("samples") else ""
            _ = result["before"], result["after"], result["target"], result["mean"]
        except (ValueError, KeyError, TypeError) as exc:
            raise RunError(f"result file {path} is damaged ({type(exc).__name__}); delete it and rerun "
                           "its `promot-bench run`") from None
        results.append(result)
    return results


def short(task: str) -> str:
    """A task's name without the suite prefix (each part of a multi-task or sequential name)."""
    for joiner in ("+", "-then-"):
        if joiner in task:
            return joiner.join(short(part) for part in task.split(joiner))
    for prefix in ("promot_mini_", "promot_"):
        if task.startswith(prefix):
            return task[len(prefix):]
    return task


def build_tables(results: list[dict]) -> list[Table]:
    grouped = defaultdict(list)
    for r in results:  # never two presets, budgets or suite versions (groups) in one table
        grouped[(r["model"]["name"], r["eval_group"], r["shots"], setting(r))].append(r)
    tables = []
    for (model, group, shots, variant), runs in sorted(grouped.items(), key=lambda kv: (*kv[0][:3], kv[0][3] or "")):
        tasks = list(runs[0]["before"])
        table = Table(model, group, shots, tasks, variant, commits=code_counts(runs),
                      lower_is_better={t for r in runs for t, v in r["before"].items() if v.get("higher_is_better") is False})
        # The pretrained scores are one cached evaluation per seed, repeated in every run of it.
        per_seed = {r["seed"]: r for r in runs}.values()
        pre = {t: mean_stderr([r["before"][t]["score"] for r in per_seed]) for t in tasks}
        pre_mean = mean_stderr([r["mean"]["before"] for r in per_seed])
        table.rows.append(Row("pretrained", "", "", sorted({r["seed"] for r in runs}), None, pre, pre_mean))
        cells = defaultdict(list)
        for r in runs:
            cells[(r["tuner"], r["train"])].append(r)
        for (tuner, train), cell in sorted(cells.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            target_task = cell[0]["target_task"]
            sides = {"above" if r["delta_ci"]["mean"]["low"] > 0 else "below" if r["delta_ci"]["mean"]["high"] < 0
                     else "none" for r in cell}
            table.rows.append(Row(
                f"{tuner} → {train}", tuner, train, sorted(r["seed"] for r in cell),
                (target_task, *mean_stderr([r["target"]["tuned"]["score"] for r in cell])),
                {t: mean_stderr([r["after"][t]["score"] for r in cell]) for t in tasks},
                mean_stderr([r["mean"]["after"] for r in cell]),
                mean_stderr([r["mean"]["delta"] for r in cell]),
                "*" if len(sides) == 1 and sides != {"none"} else ""))
            if tuner != "ft":
                versus_ft(table.rows[-1], cell, cells.get(("ft", train), []))
            table.rows[-1].mde = cell_mde(cell)
            if len(cell) == 1:
                table.rows[-1].task_ci = {t: (ci["low"], ci["high"]) for t, ci in cell[0]["delta_ci"].items()
                                          if t in tasks}
            collapse_columns(table.rows[-1], cell, tasks)
            flips_columns(table.rows[-1], cell, tasks)
        pretrained_targets = {}
        for r in runs:
            pretrained_targets.setdefault(r["target_task"], []).append(r["target"]["pretrained"]["score"])
        table.rows[0].target = ("; ".join(f"{short(t)} {sum(v) / len(v):.1f}" for t, v in sorted(pretrained_targets.items())),
                                None, None)
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
    return (f"Code: {listed} of {cells} result file{'s' if cells != 1 else ''}"
            + (" — more than one version of the code: compare its cells with care" if len(table.commits) > 1 else ""))


def setting(result: dict) -> str | None:
    """A result's preset and training budget, where not the default preset at its own budget
    (results written before budgets were recorded ran at their preset's own)."""
    from .config import DEFAULT_PRESET, variant

    return variant(result.get("preset", DEFAULT_PRESET), (result.get("budget") or {}).get("label"))


def after_items(result: dict, phase: str = "after") -> dict:
    """task -> per-item values after tuning (or in another `phase`), from the run's samples file."""
    from .samples import by_phase
    from .statistics import item_values

    return {task: item_values(items) for task, items in by_phase(result["_samples"]).get(phase, {}).items()}


def cell_mde(cell: list[dict]) -> float | None:
    """The mde of the cell's seed mean of Δ mean: one seed's own `mde`; for several, 2.8 × the SE
    with seeds and items both resampled, from the samples files. None when any run predates mde
    (so a column never mixes the two kinds of cell)."""
    from .statistics import mde, seed_mean_se

    if any(r.get("mde") is None for r in cell):
        return None
    if len(cell) == 1:
        return cell[0]["mde"]
    if not all(r["_samples"] and Path(r["_samples"]).is_file() for r in cell):
        return None
    runs = []
    for r in sorted(cell, key=lambda r: r["seed"]):
        before, after = after_items(r, "before"), after_items(r)
        runs.append({t: (r["before"][t].get("aggregation", "mean"), before[t], after[t]) for t in r["before"]})
    return mde(seed_mean_se(runs, iters=1000, seed=0))


def collapse_columns(row: Row, cell: list[dict], tasks: list[str]) -> None:
    """The collapse rate's change over seeds (probe mean and per probe), where every run has one."""
    if any(not r.get("collapse") for r in cell):
        return
    row.format_delta = mean_stderr([r["collapse"]["mean"]["delta"] for r in cell])
    sides = {"above" if c["low"] > 0 else "below" if c["high"] < 0 else "none"
             for c in (r["collapse"]["mean"]["ci"] for r in cell)}
    row.format_significant = "*" if len(sides) == 1 and sides != {"none"} else ""
    row.format_tasks = {t: sum(r["collapse"][t]["delta"] for r in cell) / len(cell) for t in tasks
                        if all(t in r["collapse"] for r in cell)}


def run_flips(result: dict) -> dict | None:
    """The run's per-item flips: recorded in the result, or re-derived from its samples file
    (results written before flips were recorded); None where neither is there."""
    from .flips import from_samples_file

    if result.get("flips"):
        return result["flips"]
    if result["_samples"] and Path(result["_samples"]).is_file():
        return from_samples_file(result["_samples"], {t: v.get("aggregation") for t, v in result["before"].items()})
    return None


def flips_columns(row: Row, cell: list[dict], tasks: list[str]) -> None:
    """Seed means of the items lost and gained, over all probes and per probe."""
    found = [run_flips(r) for r in cell]
    if any(f is None for f in found):
        return
    row.flips = tuple(sum(f["total"][k] for f in found) / len(found) for k in ("lost", "gained", "n"))
    row.flips_tasks = {t: tuple(sum(f[t][k] for f in found) / len(found) for k in ("lost", "gained"))
                       for t in tasks if all(t in f for f in found)}
    lowest = min(range(len(cell)), key=lambda i: cell[i]["seed"])
    row.flips_detail = {t: found[lowest][t] for t in tasks if t in found[lowest]}


def versus_ft(row: Row, cell: list[dict], ft_runs: list[dict]) -> None:
    """Paired bootstrap of this tuner's mean in-context score minus ft's, seed by seed."""
    from .statistics import paired_bootstrap

    ft_by_seed = {r["seed"]: r for r in ft_runs}
    deltas, sides = [], set()
    for run in cell:
        ft = ft_by_seed.get(run["seed"])
        if ft is None or not run["_samples"] or not ft["_samples"]:
            continue
        ours, theirs = after_items(run), after_items(ft)
        tasks = {t: (run["after"][t].get("aggregation", "mean"), theirs[t], ours[t]) for t in run["after"]}
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

    return [row.label, str(len(row.seeds)), target_cell(row), *(fmt(row.tasks[t]) for t in table.tasks),
            fmt(row.mean), signed(row.delta_mean, row.significant), fmt((row.mde, None)),
            signed(row.versus_ft, row.versus_ft_significant), signed(row.format_delta, row.format_significant),
            flips_cell(row.flips)]


def flips_cell(value: tuple | None) -> str:
    return "–" if value is None else f"−{value[0]:.0f} / +{value[1]:.0f}"


LEADING = ["model", "seeds", "target"]  # row_cells' first columns, before the eval tasks'
TRAILING = ["mean", "Δ mean", "mde", "vs ft", "format Δ", "flips −/+"]


def header(table: Table) -> list[str]:
    """The column names of `row_cells`."""
    return [*LEADING, *map(table.column, table.tasks), *TRAILING]


def diagnostics(out: Path) -> list[dict]:
    """The diagnose runs under out/diagnose (from `promot-bench diagnose`), with their plots."""
    found = []
    for path in sorted((out / "diagnose").glob("**/*.json")):
        try:
            result = json.loads(path.read_text())
            found.append({"path": path.relative_to(out).as_posix(), "tuners": ", ".join(result["tuners"]),
                          "train": result["train"], "model": result["model"]["name"],
                          "plots": [Path(p).name for p in result.get("plots", [])]})
        except (ValueError, KeyError, TypeError):
            raise RunError(f"diagnose file {path} is damaged; delete it and rerun its `promot-bench diagnose`") from None
    return found


def probe_cards(out: Path) -> list[dict]:
    """The probe cards under out/probes (from `promot-bench probes`), each with its path."""
    cards = []
    for path in sorted((out / "probes").glob("**/*.json")):
        try:
            card = json.loads(path.read_text())
            _ = card["summary"], card["probes"], card["model"]["name"]
        except (ValueError, KeyError, TypeError):
            raise RunError(f"probe card {path} is damaged; delete it and rerun its `promot-bench probes`") from None
        cards.append({**card, "path": path.relative_to(out).as_posix()})
    return cards


def probe_cards_markdown(cards: list[dict]) -> list[str]:
    if not cards:
        return []
    lines = ["## Probe cards (the pretrained model: can each probe see forgetting?)", ""]
    for card in cards:
        lines += [f"### {probes.title(card)}", "", f"From [{card['path']}]({card['path']}): `{card['command']}`", ""]
        lines += [*probes.markdown_table(card), ""]
    return lines


def diagnostics_markdown(found: list[dict]) -> list[str]:
    if not found:
        return []
    lines = ["## Diagnostics (format specialization during training)", ""]
    for d in found:
        folder = d["path"].rsplit("/", 1)[0]
        lines.append(f"- {d['model']}: {d['tuners']} on {d['train']} — [{d['path']}]({d['path']})")
        lines += [f"  ![{name}]({folder}/{name})" for name in d["plots"]]
    return lines + [""]


def dose_markdown(made: dict) -> list[str]:
    """The dose curves and frontiers (dose.plots' files, as paths relative to the page)."""
    from . import dose

    if not made:
        return []
    lines = ["## Dose curves and the learning–retention frontier", "",
             "Dose: Δ in-context mean, the collapse rate and the target score against training examples per stage, "
             "one line per tuner, from the dose cells (`--steps N`: final weights of each budget, keep-best off). "
             "Frontier: every tuner × budget of the target (keep-best matrix cells marked *), both 95% intervals, "
             "and the Pareto front (no other point as good on both axes and better on one).", ""]
    for key, files in made.items():
        lines += [f"### {dose.title(key)}", ""] + [f"![{name}]({path})" for name, path in files.items()] + [""]
    return lines


def markdown(tables: list[Table], plots: dict, found: list[dict] | None = None, cards: list[dict] | None = None,
             doses: dict | None = None) -> str:
    lines = ["# promot-bench leaderboard", "",
             "Generated by `promot-bench leaderboard` from `results/runs/**/seed*.json`; do not edit.",
             "Eval-task columns: 1-shot (or 4-shot) score after tuning with the soft prompt stripped; mean ± "
             "stderr over seeds. Δ mean: against the pretrained model; `*`: every seed's 95% paired bootstrap "
             "interval of Δ mean excludes 0 on the same side. vs ft: mean in-context score minus `ft`'s on the same "
             "target, seed and items, with the same significance mark. Target: 0-shot, with the tuner's prompt "
             "attached. ↓: a task whose metric is better when lower (from its own config). mde: the minimum "
             "detectable effect of Δ mean (2.8 × its bootstrap SE: 80% power at 5% two-sided; for several seeds "
             "seeds and items both resampled); differences smaller than it the cell could not reliably see. "
             "format Δ: change in the share of outputs (percentage points, mean over eval tasks) in the target's "
             "format — first word one of its labels, or the target's language — the collapse rate; `*` as for Δ "
             "mean. flips −/+: items (all probes together; seed mean) right before and wrong after / wrong before and "
             "right after (for graded probes: whose own score fell / rose); per probe and with examples in each result "
             "file's `flips`. –: not in the result files (older results).", ""]
    for table in tables:
        lines += [f"## {table.title}", ""]
        names = header(table)
        lines.append("| " + " | ".join(names) + " |")
        lines.append("|" + "---|" * len(names))
        for row in table.rows:
            lines.append("| " + " | ".join(row_cells(table, row)) + " |")
        lines += ["", commits_line(table), ""]
        for name, path in plots.get(table.slug, {}).items():
            lines.append(f"![{name}]({path})")
        lines.append("")
    return "\n".join(lines + dose_markdown(doses or {}) + probe_cards_markdown(cards or [])
                     + diagnostics_markdown(found or []))


def csv_text(tables: list[Table]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["model", "eval_group", "shots", "tuner", "train", "seeds", "target_task", "target_mean",
                     "target_stderr", "task", "score_mean", "score_stderr", "mean", "delta_mean", "delta_mean_stderr",
                     "versus_ft", "versus_ft_stderr", "mde", "format_delta", "format_delta_mean",
                     "format_delta_mean_stderr", "flips_lost", "flips_gained", "flips_lost_all", "flips_gained_all",
                     "flips_n_all"])
    for table in tables:
        for row in table.rows:
            target = row.target if row.target and row.target[1] is not None else ("", "", "")
            for task in table.tasks:
                writer.writerow([table.model, table.group, table.shots, row.tuner or "pretrained", row.train,
                                 " ".join(map(str, row.seeds)), *target, task, *row.tasks[task], row.mean[0],
                                 *(row.delta_mean or ("", "")), *(row.versus_ft or ("", "")),
                                 "" if row.mde is None else row.mde,
                                 (row.format_tasks or {}).get(task, ""), *(row.format_delta or ("", "")),
                                 *(row.flips_tasks or {}).get(task, ("", "")), *(row.flips or ("", "", ""))])
    return buffer.getvalue()


def plot(table: Table, folder: Path) -> dict:
    """A retention heatmap (rows × eval tasks, colour = Δ), the collapse heatmap beside it (colour =
    Δ share in the target's format; only where some row has one), and a bar chart of Δ mean."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tuned = table.rows[1:]
    if not tuned:
        return {}
    pre = table.rows[0].tasks
    files = {"retention heatmap": heatmap(
        table, [[row.tasks[t][0] - pre[t][0] for t in table.tasks] for row in tuned], "Δ score (prompt stripped)",
        f"In-context retention: {table.title}", folder / f"heatmap-{table.slug}.png")}
    if any(row.format_tasks for row in tuned):  # older results carry no collapse rate
        files["collapse heatmap"] = heatmap(
            table, [[(row.format_tasks or {}).get(t, math.nan) for t in table.tasks] for row in tuned],
            "Δ % in target's format", f"Collapse into the target's format: {table.title}",
            folder / f"collapse-{table.slug}.png", cmap="RdBu_r")  # a rise is the collapse: red
    fig, ax = plt.subplots(figsize=(6, 0.6 + 0.4 * len(tuned)))
    deltas = [r.delta_mean[0] for r in tuned]
    errors = [r.delta_mean[1] or 0.0 for r in tuned]
    ax.barh(range(len(tuned)), deltas, xerr=errors, color=["#b2182b" if d < 0 else "#2166ac" for d in deltas])
    ax.set_yticks(range(len(tuned)), [r.label for r in tuned])
    ax.axvline(0, color="black", linewidth=0.8)
    ax.invert_yaxis()
    ax.set_xlabel("Δ mean in-context score vs pretrained (± stderr over seeds)")
    ax.set_title(table.title, fontsize=10)
    files["delta mean per tuner"] = save_png(fig, folder / f"delta-mean-{table.slug}.png")
    plt.close("all")
    return files


def heatmap(table: Table, grid: list[list[float]], label: str, title: str, path: Path, cmap: str = "RdBu") -> Path:
    """Tuned rows × eval tasks, colour = the value (diverging around 0, red = worse); NaN cells read "–"."""
    import matplotlib.pyplot as plt

    tuned = table.rows[1:]
    limit = max([1.0] + [abs(v) for line in grid for v in line if not math.isnan(v)])
    fig, ax = plt.subplots(figsize=(max(6.0, 2.0 + 0.9 * len(table.tasks)), 1.4 + 0.45 * len(tuned)))
    image = ax.imshow(grid, cmap=cmap, vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(len(table.tasks)), [short(t) for t in table.tasks], rotation=35, ha="right")
    ax.set_yticks(range(len(tuned)), [r.label for r in tuned])
    for i, line in enumerate(grid):
        for j, value in enumerate(line):
            ax.text(j, i, "–" if math.isnan(value) else f"{value:+.1f}", ha="center", va="center", fontsize=8)
    fig.colorbar(image, ax=ax, label=label)
    ax.set_title(title, fontsize=10)
    return save_png(fig, path)


def build(out: Path) -> list[Path]:
    from .cache import locked
    from .runner import lock_path, remove_stale_temporaries

    with locked(lock_path(out / "LEADERBOARD.md")):  # one build at a time per results folder
        for folder in (out, out / "plots"):  # what a killed earlier build left half-written
            remove_stale_temporaries(folder)
        return _build(out)


def _build(out: Path) -> list[Path]:
    results = load_results(out)
    if not results:
        raise RunError(f"no result files under {out / 'runs'}: run `promot-bench run` first")
    tables = build_tables(results)
    plots = {t.slug: {k: v for k, v in plot(t, out / "plots").items()} for t in tables}
    doses = dose.plots(results, out / "plots")
    def relative(made: dict) -> dict:  # the plots' paths as the Markdown page links them
        return {key: {k: v.relative_to(out).as_posix() for k, v in files.items()} for key, files in made.items()}

    written = [out / "LEADERBOARD.md", out / "LEADERBOARD.csv", out / "LEADERBOARD.html"]
    atomic_write_text(written[0], markdown(tables, relative(plots), diagnostics(out), probe_cards(out),
                                           relative(doses)))
    atomic_write_text(written[1], csv_text(tables))
    atomic_write_text(written[2], page.html_page(tables, plots, doses))
    return written + [p for files in [*plots.values(), *doses.values()] for p in files.values()]
