"""The leaderboard's tables, built from result files alone: one per (model, eval group, budget),
a row for the pretrained model and one per (tuner, target) with seed means ± stderr, and the
cells every output shares (the Markdown and CSV files, the page)."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from promot_bench import config
from promot_bench.config import DEFAULT_PRESET
from promot_bench.errors import RunError
from promot_bench.evaluate.samples import locate
from promot_bench.evaluate.seed_statistics import holm, star
from promot_bench.evaluate.statistics import mean_stderr
from promot_bench.evaluate.suites import JOINERS
from promot_bench.report.columns import (
    Row,
    attached_columns,
    breakdown_columns,
    collapse_columns,
    delta_columns,
    flips_columns,
    forgetting_columns,
    versus_ft,
)
from promot_bench.store.result import LoadedResult
from promot_bench.store.result_file import UnreadableResult, read


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
    # what tells the table's cells from another table's (the CSV's columns)
    preset: str = DEFAULT_PRESET
    budget: str | None = None  # the budget label; None for the preset's own
    keep_best: bool | None = None
    data_hash: str | None = None

    def column(self, task: str) -> str:
        return short(task) + (" ↓" if task in self.lower_is_better else "")

    @property
    def title(self) -> str:
        return f"{model_title(self.model)} · {self.group} ({self.shots}-shot)" + (
            f" · {self.setting}" if self.setting else ""
        )

    @property
    def slug(self) -> str:
        return f"{self.model}-{self.group}" + (f"-{self.setting}" if self.setting else "")


def model_title(name: str) -> str:
    """A model's name as tables show it: an embedded model's with where its weights came from
    (fp32 de-quantized from a 4-bit GGUF: not the original checkpoint)."""
    from promot_bench.models.embedded import EMBEDDED

    return f"{name} ({EMBEDDED[name].origin})" if name in EMBEDDED else name


def load_results(out: Path) -> list[LoadedResult]:
    results = []
    for path in sorted((out / "runs").glob("**/seed*.json")):
        try:
            content = read(path)
        except UnreadableResult as exc:
            raise RunError(
                f"result file {path} is damaged ({exc.reason}); delete it and rerun "
                "its `promot-bench run`"
            ) from None
        found = locate(path.with_name(content["samples"])) if content["samples"] else None
        results.append(LoadedResult(content, found))
    tag_data_versions(results)
    return results


def tag_data_versions(results: list[LoadedResult]) -> None:
    """Mark each result whose eval group also has results on other data (another data version
    of the same group, e.g. more test items) with its data hash, so no table or plot mixes them
    and tables of two models say when their data differ."""
    hashes = defaultdict(set)
    for r in results:
        hashes[r["eval_group"]].add(r.get("data_hash"))
    for r in results:
        if len(hashes[r["eval_group"]]) > 1:
            r.data_version = (r.get("data_hash") or "unknown")[:8]


def group_label(result: LoadedResult) -> str:
    """A result's eval group, with its data version where the group has several."""
    data = result.data_version
    return result["eval_group"] + (f"@data-{data}" if data else "")


def short(task: str) -> str:
    """A task's name without the suite prefix (each part of a multi-task or sequential name)."""
    for joiner in JOINERS.values():
        if joiner in task:
            return joiner.join(short(part) for part in task.split(joiner))
    return re.sub(r"^promot_(mini_)?(v\d+_)?", "", task)


def build_tables(results: list[dict]) -> list[Table]:
    """One table per model, eval group, shots and setting: its pretrained row, then a row per
    (tuner, target) cell over its seeds, starred from the table's seed-level tests."""
    grouped = defaultdict(list)
    for r in results:  # never two presets, budgets, suite or data versions in one table
        grouped[(r["model"]["name"], group_label(r), r["shots"], setting(r))].append(r)
    tables = []
    for key, runs in sorted(
        grouped.items(), key=lambda kv: (*kv[0][:3], in_number_order(kv[0][3] or ""))
    ):
        table = _empty_table(key, runs)
        table.rows.append(_pretrained_row(runs, table.tasks))
        cells = defaultdict(list)
        for r in runs:
            cells[(r["tuner"], r["train"])].append(r)
        for (tuner, train), cell in sorted(cells.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            table.rows.append(_cell_row(cell, table.tasks, cells.get(("ft", train), [])))
        mark(table)
        tables.append(table)
    return tables


def _empty_table(key: tuple, runs: list[dict]) -> Table:
    model, group, shots, variant = key
    budget = runs[0].get("budget") or {}
    return Table(
        model,
        group,
        shots,
        list(runs[0]["before"]),
        variant,
        commits=code_counts(runs),
        lower_is_better={
            t for r in runs for t, v in r["before"].items() if v.get("higher_is_better") is False
        },
        preset=runs[0].get("preset", DEFAULT_PRESET),
        budget=budget.get("label"),
        keep_best=budget.get("keep_best"),
        data_hash=runs[0].get("data_hash"),
    )


def _pretrained_row(runs: list[dict], tasks: list[str]) -> Row:
    """The pretrained model's row: its scores (one cached evaluation per seed, repeated in every
    run of it) and each target's pretrained score."""
    per_seed = {r["seed"]: r for r in runs}.values()
    row = Row(
        "pretrained",
        "",
        "",
        sorted({r["seed"] for r in runs}),
        None,
        {t: mean_stderr([r["before"][t]["score"] for r in per_seed]) for t in tasks},
        mean_stderr([r["mean"]["before"] for r in per_seed]),
    )
    targets = {}
    for r in runs:
        # each target task once, also where a run trained on several
        for task, entry in (
            r["target"].get("per_target") or {r["target_task"]: r["target"]}
        ).items():
            targets.setdefault(task, {})[r["seed"]] = entry["pretrained"]["score"]
    text = "; ".join(
        f"{short(t)} {sum(v.values()) / len(v):.1f}" for t, v in sorted(targets.items())
    )
    row.target = (text, None, None)
    return row


def _cell_row(cell: list[dict], tasks: list[str], ft_cell: list[dict]) -> Row:
    """A (tuner, target) cell over its seeds, with its columns' seed-level tests."""
    tuner, train = cell[0]["tuner"], cell[0]["train"]
    row = Row(
        f"{tuner} → {train}",
        tuner,
        train,
        sorted(r["seed"] for r in cell),
        (cell[0]["target_task"], *mean_stderr([r["target"]["tuned"]["score"] for r in cell])),
        {t: mean_stderr([r["after"][t]["score"] for r in cell]) for t in tasks},
        mean_stderr([r["mean"]["after"] for r in cell]),
    )
    delta_columns(row, cell)
    if tuner != "ft":
        versus_ft(row, cell, ft_cell)
    if len(cell) == 1:
        row.task_ci = {
            t: (ci["low"], ci["high"]) for t, ci in cell[0]["delta_ci"].items() if t in tasks
        }
    collapse_columns(row, cell, tasks)
    flips_columns(row, cell, tasks)
    breakdown_columns(row, cell)
    forgetting_columns(row, cell)
    attached_columns(row, cell)
    row.per_target = per_target_scores(cell)
    return row


def mark(table: Table) -> None:
    """Stars from the table's seed-level tests, Holm-corrected over all of them together: the
    chance of any false star in the table stays at or below 5%."""
    found = [(row, name, test) for row in table.rows for name, test in row.tests() if test]
    for (row, name, _), p in zip(found, holm([test.p for _, _, test in found])):
        setattr(row, f"{name}_p", p)
        setattr(row, "significant" if name == "delta" else f"{name}_significant", star(p))


def per_target_scores(cell: list[dict]) -> dict | None:
    """task -> (mean, stderr) over seeds of each target's own tuned score, for a cell trained on
    several targets; None for one target."""
    if not cell[0]["target"].get("per_target"):
        return None
    return {
        task: mean_stderr([r["target"]["per_target"][task]["tuned"]["score"] for r in cell])
        for task in cell[0]["target"]["per_target"]
    }


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


def in_number_order(label: str) -> list:
    """A sort key that puts steps40 before steps160: its digit runs compared as numbers."""
    return [(int(part), "") if part.isdigit() else (-1, part) for part in re.split(r"(\d+)", label)]


def setting(result: dict) -> str | None:
    """A result's preset, learning rate and training budget, where not the default preset at its
    own (results written before budgets or rates were recorded ran at their preset's own)."""
    return config.variant(
        result.get("preset", DEFAULT_PRESET),
        (result.get("budget") or {}).get("label"),
        rate_of(result),
    )


def rate_of(result: dict) -> str | None:
    """The result's learning-rate label: None at its preset's own rate."""
    return (result.get("learning_rate") or {}).get("label")


def fmt(value: tuple | None, signed: bool = False, digits: int = 1) -> str:
    if value is None or value[0] is None:
        return "–"
    number = f"{value[0]:+.{digits}f}" if signed else f"{value[0]:.{digits}f}"
    return number if value[1] is None else f"{number} ± {value[1]:.{digits}f}"


def target_cell(row: Row) -> str:
    if row.target is None:
        return "–"
    if row.per_target:
        return "; ".join(f"{short(t)} {fmt(v)}" for t, v in row.per_target.items())
    if row.target[1] is None:
        return str(row.target[0])
    return f"{short(row.target[0])} {fmt(row.target[1:])}"


def row_cells(table: Table, row: Row) -> list[str]:
    def signed(value, mark):
        return fmt(value, signed=True) + (f" {mark}" if mark else "") if value else "–"

    return [
        row.label,
        str(len(row.seeds)),
        target_cell(row),
        *(fmt(row.tasks[t]) for t in table.tasks),
        fmt(row.mean),
        signed(row.delta_mean, row.significant)
        + ("" if row.after_attached is None else f" (attached {fmt(row.after_attached, True)})"),
        fmt((row.mde, None)),
        signed(row.versus_ft, row.versus_ft_significant)
        + ("" if row.versus_ft_mde is None else f" (mde {row.versus_ft_mde:.1f})"),
        signed(row.collapse_delta, row.collapse_significant),
        signed(row.breakdown_delta, row.breakdown_significant),
        fmt(row.kl, digits=3),
        fmt(row.heldout_delta, signed=True, digits=3),
        flips_cell(row.flips),
    ]


def markdown_table(header: list[str], rows) -> list[str]:
    """A Markdown table's lines: the header, its rule, a line per row of cells."""
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def markdown_section(title: str, text: str, header: list[str], rows) -> list[str]:
    """A `##` section of the Markdown page: its title, a paragraph and a table."""
    return [f"## {title}", "", text, "", *markdown_table(header, rows), ""]


def flips_cell(value: tuple | None) -> str:
    return "–" if value is None else f"−{value[0]:.0f} / +{value[1]:.0f}"


LEADING = ["model", "seeds", "target"]  # row_cells' first columns, before the eval tasks'
TRAILING = [
    "mean",
    "Δ mean",
    "mde",
    "vs ft",
    "collapse Δ",
    "breakdown Δ",
    "KL",
    "held-out CE Δ",
    "flips −/+",
]


def header(table: Table) -> list[str]:
    """The column names of `row_cells`."""
    return [*LEADING, *map(table.column, table.tasks), *TRAILING]
