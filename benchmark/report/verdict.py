"""The verdict: per model, eval set, setting and target, the tuners ranked by their seed mean of
Δ in-context mean, each with its t interval over seeds, and each against `ft` on the same seeds
(the difference, its interval, Holm-adjusted p, the power for the observed difference, mde); the
target score with its interval. Every test treats the seed as the unit; one-seed cells are listed
without a test (they are about one trained model, not a tuner). Holm's correction runs over every
test in one verdict table.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from promot_bench.evaluate.seed_statistics import SeedTest, holm, paired_differences, seed_test
from promot_bench.report.tables import (
    code_counts,
    group_label,
    markdown_table,
    model_title,
    setting,
    short,
)


@dataclass
class Entry:
    tuner: str
    seeds: list[int]
    delta: SeedTest  # Δ in-context mean over seeds
    versus_ft: SeedTest | None  # mean in-context score minus ft's, seed by seed
    target: SeedTest  # the target score over seeds (its interval; the test against 0 unused)
    delta_p: float | None = None  # Holm-adjusted over the table's tests
    versus_ft_p: float | None = None


@dataclass
class Verdict:
    model: str
    group: str
    shots: int
    setting: str | None
    target: str
    entries: list[Entry] = field(default_factory=list)
    commits: dict = field(default_factory=dict)

    @property
    def title(self) -> str:
        return (
            f"{model_title(self.model)} · {self.group} ({self.shots}-shot)"
            + (f" · {self.setting}" if self.setting else "")
            + f" · target {short(self.target)}"
        )

    @property
    def tested(self) -> bool:
        """Whether any tuner here has a seed-level test (two or more seeds)."""
        return any(e.delta.p is not None for e in self.entries)


def verdicts(results: list[dict]) -> list[Verdict]:
    """One verdict per (model, eval group, shots, setting, single target) with a tuner of two or
    more seeds; cells trained on several targets are left to the leaderboard's tables."""
    grouped = defaultdict(lambda: defaultdict(list))
    for r in results:
        if len(r.get("target_tasks") or [r["target_task"]]) != 1:
            continue
        key = (r["model"]["name"], group_label(r), r["shots"], setting(r), r["target_task"])
        grouped[key][r["tuner"]].append(r)
    found = []
    for key, cells in sorted(grouped.items(), key=lambda kv: tuple(str(k) for k in kv[0])):
        verdict = Verdict(*key, commits=code_counts([r for c in cells.values() for r in c]))
        ft = {r["seed"]: r["mean"]["after"] for r in cells.get("ft", [])}
        for tuner, cell in cells.items():
            cell = sorted(cell, key=lambda r: r["seed"])
            ours = {r["seed"]: r["mean"]["after"] for r in cell}
            differences = paired_differences(ours, ft) if tuner != "ft" else {}
            verdict.entries.append(
                Entry(
                    tuner,
                    [r["seed"] for r in cell],
                    seed_test([r["mean"]["delta"] for r in cell]),
                    seed_test(differences.values()) if differences else None,
                    seed_test([r["target"]["tuned"]["score"] for r in cell]),
                )
            )
        if verdict.tested:
            adjust(verdict)
            verdict.entries.sort(key=lambda e: -e.delta.mean)
            found.append(verdict)
    return found


def adjust(verdict: Verdict) -> None:
    """Holm over every seed-level test in the table (Δ against 0, each tuner against ft)."""
    slots = [(e, "delta_p", e.delta.p) for e in verdict.entries] + [
        (e, "versus_ft_p", e.versus_ft.p) for e in verdict.entries if e.versus_ft is not None
    ]
    for (entry, name, _), adjusted in zip(slots, holm([p for _, _, p in slots])):
        setattr(entry, name, adjusted)


def interval(test: SeedTest | None, signed: bool = True) -> str:
    if test is None:
        return "–"
    value = f"{test.mean:+.2f}" if signed else f"{test.mean:.1f}"
    if test.low is None:
        return value
    bounds = f"{test.low:+.2f}, {test.high:+.2f}" if signed else f"{test.low:.1f}, {test.high:.1f}"
    return f"{value} [{bounds}]"


def p_text(p: float | None) -> str:
    if p is None:
        return "–"
    return ("<0.001" if p < 0.001 else f"{p:.3f}") + (" *" if p < 0.05 else "")


def number(value: float | None, pattern: str = "{:.2f}") -> str:
    return "–" if value is None else pattern.format(value)


HEADER = [
    "rank",
    "tuner",
    "seeds",
    "Δ in-context mean [95% t]",
    "p (Holm)",
    "mde",
    "vs ft [95% t]",
    "p (Holm)",
    "power",
    "mde",
    "target [95% t]",
]


def rows(verdict: Verdict) -> list[list[str]]:
    out = []
    for rank, e in enumerate(verdict.entries, 1):
        vs = e.versus_ft
        out.append(
            [
                str(rank),
                e.tuner,
                str(len(e.seeds)),
                interval(e.delta),
                p_text(e.delta_p),
                number(e.delta.mde),
                interval(vs) if e.tuner != "ft" else "(the baseline)",
                p_text(e.versus_ft_p),
                number(vs.power if vs else None, "{:.0%}"),
                number(vs.mde if vs else None),
                interval(e.target, signed=False),
            ]
        )
    return out


LEGEND = (
    "The verdict: each tuner's seed mean with its 95% t interval over seeds (n − 1 degrees of "
    "freedom; a tuner is a procedure, one seed one draw of it). vs ft: its mean in-context score "
    "minus `ft`'s, seed by seed on the same items and batches. p: two-sided t test over seeds, "
    "Holm-adjusted over every test in the table (`*` below 0.05). power: the chance these seeds "
    "had of detecting the observed difference at 5%, given the observed seed SD; mde: the "
    "smallest difference they detect with 80% power. A tuner with one seed has no test."
)


def markdown(found: list[Verdict]) -> list[str]:
    if not found:
        return []
    lines = ["## Verdict: which tuner protects in-context learning? (seed-level)", "", LEGEND, ""]
    for verdict in found:
        lines += [f"### {verdict.title}", ""]
        lines += markdown_table(HEADER, rows(verdict))
        cells = sum(verdict.commits.values())
        codes = ", ".join(f"`{c}` ({n})" for c, n in verdict.commits.items())
        lines += ["", f"Code: {codes} of {cells} result files", ""]
    return lines
