"""results/LEADERBOARD.html: one page (no network) built from the leaderboard's
tables — sortable columns (click a header; `#sort=<table>:<column>:<asc|desc>` in the address
sorts on load), eval-task cells coloured on the retention heatmap's colormap (red = worse than the
pretrained model), each cell's interval on hover, a per-task detail and the flips with example
items per tuned row, filters by model, suite and shots, and every plot, linked from plots/ beside
it as the Markdown page links them (inlined, the page held a second copy of every plot: 4.3 of
the committed results' 26.6 MB).

This module says what the page shows; templates/leaderboard.html (Jinja2, autoescaped) says how.
"""

from __future__ import annotations

from dataclasses import dataclass

import jinja2

from promot_bench.report import dose, forgetting, fronts, tables, verdict
from promot_bench.report.contents import Contents
from promot_bench.report.heatmaps import COLORMAP

TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("promot_bench.report", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,  # a name the template expects and the page lacks: an error
)


@dataclass(frozen=True)
class Cell:
    text: str
    style: str = ""
    title: str = ""


def colour(delta: float, limit: float) -> str:
    """`delta` on the heatmap's diverging colormap over [-limit, limit] (its ends beyond):
    red below 0, white at 0, blue above."""
    from matplotlib import colormaps, colors

    share = max(-1.0, min(1.0, delta / limit)) if limit else 0.0
    return colors.to_hex(colormaps[COLORMAP]((share + 1.0) / 2.0))


def image(name: str, link: str) -> dict:
    return {"name": name, "src": link}


def hover(delta: float, ci, stderr: float) -> str:
    if ci:
        return f"Δ {delta:+.2f}, 95% interval [{ci[0]:+.2f}, {ci[1]:+.2f}]"
    return f"Δ {delta:+.2f}" + (f" (± {stderr:.2f} stderr over seeds)" if stderr else "")


def board_rows(table) -> list[list[Cell]]:
    """The table's rows: eval-task cells of tuned rows coloured by their Δ against the pretrained
    row (sign flipped for lower-is-better tasks, so red is always worse), intervals on hover."""
    pre = table.rows[0].tasks
    deltas = {
        id(row): {t: row.tasks[t][0] - pre[t][0] for t in table.tasks} for row in table.rows[1:]
    }
    limit = max([1.0] + [abs(d) for ds in deltas.values() for d in ds.values()])
    first = len(tables.LEADING)  # then the eval tasks
    rows = []
    for row in table.rows:
        cells = []
        for number, text in enumerate(tables.row_cells(table, row)):
            task = (
                table.tasks[number - first] if first <= number < first + len(table.tasks) else None
            )
            if task is None or id(row) not in deltas:
                cells.append(Cell(text))
                continue
            delta = deltas[id(row)][task]
            sign = -1.0 if task in table.lower_is_better else 1.0
            ci = (row.task_ci or {}).get(task)
            style = f"background:{colour(sign * delta, limit)}"
            cells.append(Cell(text, style, hover(delta, ci, row.tasks[task][1])))
        rows.append(cells)
    return rows


def detail(table, row) -> dict:
    """One tuned row's per-task view: before, after, Δ and its interval, the change in the share
    of outputs in the target's format, and the items lost / gained."""
    pre = table.rows[0].tasks
    lines = []
    for task in table.tasks:
        before, after = pre[task][0], row.tasks[task][0]
        ci = (row.task_ci or {}).get(task)
        fmt = (row.collapse_tasks or {}).get(task)
        flips = (row.flips_tasks or {}).get(task)
        lines.append(
            [
                tables.short(task),
                f"{before:.1f}",
                f"{after:.1f}",
                f"{after - before:+.1f}",
                f"[{ci[0]:+.1f}, {ci[1]:+.1f}]" if ci else "–",
                "–" if fmt is None else f"{fmt:+.1f}",
                "–" if flips is None else f"{flips[0]:.0f} / {flips[1]:.0f}",
            ]
        )
    return {"label": row.label, "rows": lines}


def flips(row) -> dict:
    """One row's flips per probe (its lowest seed): counts and example items."""
    probes = []
    for task, entry in row.flips_detail.items():
        examples = [
            ["" if ex.get(k) is None else str(ex.get(k)) for k in FLIP_TEXTS]
            for ex in entry.get("examples") or [{}]
        ]
        counts = [entry[k] for k in ("lost", "gained", "unchanged")]
        probes.append({"name": tables.short(task), "counts": counts, "examples": examples})
    return {"label": row.label, "seed": row.seeds[0], "probes": probes}


FLIP_TEXTS = ("prompt_end", "gold", "before", "after")


def filters(built) -> list[dict]:
    def values(attribute: str) -> list:
        return sorted({getattr(t, attribute) for t in built}, key=str)

    return [
        {"name": "model", "label": "model", "choices": values("model")},
        {"name": "group", "label": "suite", "choices": values("group")},
        {"name": "shots", "label": "shots", "choices": values("shots")},
    ]


def board(table, plots: dict) -> dict:
    return {
        "model": table.model,
        "group": table.group,
        "shots": table.shots,
        "title": table.title,
        "header": tables.header(table),
        "rows": board_rows(table),
        "commits": tables.commits_line(table).replace("`", ""),
        "details": [detail(table, row) for row in table.rows[1:]],
        "flips": [flips(row) for row in table.rows[1:] if row.flips_detail],
        "images": [image(name, path) for name, path in plots.get(table.slug, {}).items()],
    }


def plain_section(module, found: list) -> dict:
    """A report module's section (fronts, forgetting): its title, text and table."""
    return {
        "name": module.__name__.rsplit(".", 1)[1],
        "title": module.TITLE,
        "about": module.ABOUT,
        "header": module.HEADER,
        "rows": module.rows(found),
    }


def html_page(contents: Contents) -> str:
    c = contents
    return (
        TEMPLATES.get_template("leaderboard.html").render(
            legend=verdict.LEGEND,
            verdict_header=verdict.HEADER,
            verdicts=[
                {"title": v.title, "rows": [[Cell(c) for c in r] for r in verdict.rows(v)]}
                for v in c.verdicts
            ],
            sections=[
                plain_section(fronts, c.compared),
                plain_section(forgetting, c.measures),
            ],
            filters=filters(c.tables),
            boards=[board(table, c.plots) for table in c.tables],
            doses=[
                {
                    "title": dose.title(key),
                    "images": [image(name, path) for name, path in files.items()],
                }
                for key, files in c.doses.items()
            ],
        )
        + "\n"
    )
