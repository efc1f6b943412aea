"""What one leaderboard shows, gathered once from the results folder and rendered twice (the
Markdown page, leaderboard.py; the HTML page, page.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from promot_bench.report.tables import Table


@dataclass(frozen=True)
class Contents:
    tables: list[Table]
    plots: dict  # table slug -> plot name -> path relative to the pages
    doses: dict = field(default_factory=dict)  # dose key -> plot name -> path
    verdicts: list = field(default_factory=list)  # verdict.Verdict per (model, target, setting)
    measures: list = field(default_factory=list)  # forgetting measures' correlations
    compared: list = field(default_factory=list)  # fronts' paired comparisons
    diagnostics: list[dict] = field(default_factory=list)  # diagnose runs, with their plots
    cards: list[dict] = field(default_factory=list)  # probe cards, with their paths
    source: str = "results"  # the results folder, as the page names it
