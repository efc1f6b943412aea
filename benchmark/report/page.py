"""results/LEADERBOARD.html: one self-contained page (no network) built from the leaderboard's
tables — sortable columns (click a header; `#sort=<table>:<column>:<asc|desc>` in the address
sorts on load), eval-task cells coloured on the retention heatmap's scale (red = worse than the
pretrained model), each cell's interval on hover, a per-task detail and the flips with example
items per tuned row, filters by model, suite and shots, and every plot inline.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from promot_bench.report import dose, tables, verdict

STYLE = """body{font-family:sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:0.5em 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}th{cursor:pointer;background:#f3f3f3}th:hover{background:#e4e4e4}
details{margin:0.3em 0}td.text{text-align:left;white-space:pre-wrap;max-width:28em}
.filters{margin:1em 0}
.filters label{margin-right:1.2em}section.board{border-top:2px solid #ddd;margin-top:1.5em}"""

SCRIPT = """
function value(cell){const m=cell.textContent.replace(/\\u2212/g,'-').match(/[-+]?\\d+(\\.\\d+)?/);
  return m?parseFloat(m[0]):null}
function sortBy(table,column,dir){const body=table.tBodies[0];const rows=[...body.rows];
  rows.sort((a,b)=>{const x=value(a.cells[column]),y=value(b.cells[column]);
    if(x===null&&y===null)return 0;if(x===null)return 1;if(y===null)return -1;
    return dir==='asc'?x-y:y-x});
  rows.forEach(r=>body.appendChild(r));table.dataset.column=column;table.dataset.dir=dir}
document.querySelectorAll('table.board').forEach(table=>{
  table.querySelectorAll('thead th').forEach((th,column)=>th.addEventListener('click',()=>{
    const dir=(table.dataset.column==column&&table.dataset.dir==='desc')?'asc':'desc';
    sortBy(table,column,dir)}))});
function filter(){const chosen={};
  document.querySelectorAll('.filters select').forEach(s=>chosen[s.name]=s.value);
  document.querySelectorAll('section.board').forEach(section=>{
    section.hidden=Object.entries(chosen).some(([k,v])=>v!=='all'&&section.dataset[k]!==v)})}
document.querySelectorAll('.filters select').forEach(s=>s.addEventListener('change',filter));
const wanted=location.hash.match(/sort=(\\d+):(\\d+):(asc|desc)/);
if(wanted){const table=document.querySelectorAll('table.board')[+wanted[1]];
  if(table)sortBy(table,+wanted[2],wanted[3])}
window.addEventListener('load',()=>{document.body.dataset.imagesShown=
  [...document.images].filter(i=>i.complete&&i.naturalWidth>0).length})
"""

RED, WHITE, BLUE = (178, 24, 43), (247, 247, 247), (33, 102, 172)  # RdBu's ends, as the heatmap's


def colour(delta: float, limit: float) -> str:
    """A diverging colour for `delta` on [-limit, limit]: red below 0, blue above."""
    share = max(-1.0, min(1.0, delta / limit)) if limit else 0.0
    end = BLUE if share > 0 else RED
    mixed = [round(w + (e - w) * abs(share)) for w, e in zip(WHITE, end)]
    return "#" + "".join(f"{c:02x}" for c in mixed)


def image(name: str, path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f"<p><img alt='{html.escape(name)}' src='data:image/png;base64,{data}'></p>"


def cell(text: str, style: str = "", title: str = "") -> str:
    return (
        f"<td{f' style={chr(39)}{style}{chr(39)}' if style else ''}"
        f"{f' title={chr(39)}{html.escape(title)}{chr(39)}' if title else ''}>"
        f"{html.escape(text)}</td>"
    )


def board_rows(table) -> list[str]:
    """The table's rows: eval-task cells of tuned rows coloured by their Δ against the pretrained
    row (sign flipped for lower-is-better tasks, so red is always worse), intervals on hover."""
    pre = table.rows[0].tasks
    deltas = {
        id(row): {t: row.tasks[t][0] - pre[t][0] for t in table.tasks} for row in table.rows[1:]
    }
    limit = max([1.0] + [abs(d) for ds in deltas.values() for d in ds.values()])
    lines = []
    first = len(tables.LEADING)  # then the eval tasks
    for row in table.rows:
        texts = tables.row_cells(table, row)
        cells = []
        for number, text in enumerate(texts):
            task = (
                table.tasks[number - first] if first <= number < first + len(table.tasks) else None
            )
            if task is None or id(row) not in deltas:
                cells.append(cell(text))
                continue
            delta = deltas[id(row)][task]
            sign = -1.0 if task in table.lower_is_better else 1.0
            ci = (row.task_ci or {}).get(task)
            hover = f"Δ {delta:+.2f}" + (
                f", 95% interval [{ci[0]:+.2f}, {ci[1]:+.2f}]"
                if ci
                else (
                    f" (± {row.tasks[task][1]:.2f} stderr over seeds)" if row.tasks[task][1] else ""
                )
            )
            cells.append(cell(text, f"background:{colour(sign * delta, limit)}", hover))
        lines.append("<tr>" + "".join(cells) + "</tr>")
    return lines


def detail_html(table, row) -> str:
    """One tuned row's per-task view: before, after, Δ and its interval, and the share of
    outputs in the target's format after."""
    pre = table.rows[0].tasks
    lines = [
        f"<details><summary>{html.escape(row.label)}: per-task detail</summary><table><thead><tr>"
        "<th>task</th><th>before</th><th>after</th><th>Δ</th><th>95% interval (one seed)</th>"
        "<th>format Δ</th><th>lost / gained</th></tr></thead><tbody>"
    ]
    for task in table.tasks:
        before, after = pre[task][0], row.tasks[task][0]
        ci = (row.task_ci or {}).get(task)
        fmt = (row.format_tasks or {}).get(task)
        flips = (row.flips_tasks or {}).get(task)
        lines.append(
            "<tr>"
            + "".join(
                cell(t)
                for t in (
                    tables.short(task),
                    f"{before:.1f}",
                    f"{after:.1f}",
                    f"{after - before:+.1f}",
                    f"[{ci[0]:+.1f}, {ci[1]:+.1f}]" if ci else "–",
                    "–" if fmt is None else f"{fmt:+.1f}",
                    "–" if flips is None else f"{flips[0]:.0f} / {flips[1]:.0f}",
                )
            )
            + "</tr>"
        )
    return "\n".join(lines + ["</tbody></table></details>"])


def flips_html(row) -> str:
    """A collapsible per-probe view of one row's flips (its lowest seed): counts and examples."""
    parts = [
        f"<details><summary>{html.escape(row.label)}: items flipped per probe (seed "
        f"{row.seeds[0]})</summary>",
        "<table><thead><tr><th>probe</th><th>lost</th><th>gained</th><th>unchanged</th><th>end of "
        "prompt</th>"
        "<th>gold</th><th>before</th><th>after</th></tr></thead><tbody>",
    ]
    for task, entry in row.flips_detail.items():
        examples = entry.get("examples") or [{}]
        for number, ex in enumerate(examples):
            span = f" rowspan='{len(examples)}'"
            counts = (
                f"<td{span}>{html.escape(tables.short(task))}</td>"
                + "".join(f"<td{span}>{entry[k]}</td>" for k in ("lost", "gained", "unchanged"))
                if number == 0
                else ""
            )
            texts = [ex.get("prompt_end"), ex.get("gold"), ex.get("before"), ex.get("after")]
            parts.append(
                "<tr>"
                + counts
                + "".join(
                    f"<td class='text'>{html.escape('' if t is None else str(t))}</td>"
                    for t in texts
                )
                + "</tr>"
            )
    return "\n".join(parts + ["</tbody></table></details>"])


def filters(tables) -> str:
    def select(name: str, label: str, values) -> str:
        options = "".join(
            f"<option value='{html.escape(str(v))}'>{html.escape(str(v))}</option>"
            for v in sorted(set(values), key=str)
        )
        return (
            f"<label>{label} <select name='{name}'><option value='all'>all</option>"
            f"{options}</select></label>"
        )

    return (
        "<div class='filters'>"
        + select("model", "model", [t.model for t in tables])
        + select("group", "suite", [t.group for t in tables])
        + select("shots", "shots", [t.shots for t in tables])
        + "</div>"
    )


def verdict_html(found: list) -> list[str]:
    """The verdict tables first: per model, setting and target, the tuners over seeds."""
    if not found:
        return []
    parts = [
        "<h2>Verdict: which tuner protects in-context learning? (seed-level)</h2>",
        f"<p>{html.escape(verdict.LEGEND)}</p>",
    ]
    for v in found:
        parts.append(
            f"<h3>{html.escape(v.title)}</h3><table class='verdict'><thead><tr>"
            + "".join(f"<th>{html.escape(h)}</th>" for h in verdict.HEADER)
            + "</tr></thead><tbody>"
        )
        parts += ["<tr>" + "".join(cell(c) for c in row) + "</tr>" for row in verdict.rows(v)]
        parts.append("</tbody></table>")
    return parts


def html_page(built, plots: dict, doses: dict | None = None, found: list | None = None) -> str:
    parts = [
        "<!doctype html><html lang='en'><meta charset='utf-8'><title>promot-bench "
        "leaderboard</title>",
        f"<style>{STYLE}</style>",
        "<h1>promot-bench leaderboard</h1>",
        "<p>Generated from the result files by <code>promot-bench leaderboard</code>; the legend "
        "is in "
        "LEADERBOARD.md. Click a column's header to sort by it; hover an eval-task cell for its Δ "
        "and "
        "interval; colours: Δ against the pretrained model on the retention heatmap's scale (red = "
        "worse).</p>",
        *verdict_html(found or []),
        filters(built),
    ]
    for table in built:
        header = tables.header(table)
        parts.append(
            f"<section class='board' data-model='{html.escape(table.model)}' "
            f"data-group='{html.escape(table.group)}' data-shots='{table.shots}'>"
        )
        parts.append(
            f"<h2>{html.escape(table.title)}</h2><table class='board'><thead><tr>"
            + "".join(f"<th>{html.escape(h)}</th>" for h in header)
            + "</tr></thead><tbody>"
        )
        parts += board_rows(table)
        parts.append(
            f"</tbody></table><p>{html.escape(tables.commits_line(table).replace('`', ''))}</p>"
        )
        parts += [detail_html(table, row) for row in table.rows[1:]]
        parts += [flips_html(row) for row in table.rows[1:] if row.flips_detail]
        parts += [image(name, path) for name, path in plots.get(table.slug, {}).items()]
        parts.append("</section>")
    if doses:
        parts.append("<h2>Dose curves and the learning–retention frontier</h2>")
        for key, files in doses.items():
            parts.append(f"<h3>{html.escape(dose.title(key))}</h3>")
            parts += [image(name, path) for name, path in files.items()]
    parts.append(f"<script>{SCRIPT}</script></html>")
    return "\n".join(parts) + "\n"


def sorted_column(page_dom: str, table: int, column: int) -> list[str]:
    """The texts of one column of a rendered page's `table`-th board, in the order shown (for
    checking the page in a browser)."""
    boards = re.findall(r"<table class=[\"']board[\"'][^>]*>(.*?)</table>", page_dom, flags=re.S)
    rows = re.findall(r"<tr>(.*?)</tr>", boards[table].split("<tbody>", 1)[1], flags=re.S)
    return [
        html.unescape(
            re.sub(r"<[^>]+>", "", re.findall(r"<td[^>]*>(.*?)</td>", r, flags=re.S)[column])
        )
        for r in rows
    ]
