"""`promot-bench leaderboard`: tables and plots generated from the result files alone.

One table per (model, eval group): a row for the pretrained model and one per (tuner, target),
seed means ± stderr; columns: the target score, each eval task after tuning (prompt stripped),
the mean, Δ mean against the pretrained model, its minimum detectable effect (mde), and the
collapse rate's change (collapse Δ: the share of outputs in the target's format). Outputs
(idempotent, written atomically):
results/LEADERBOARD.md, .csv, .html (page.py, no network), and PNG plots in results/plots/ that
both pages link.
"""

from __future__ import annotations

import json
from pathlib import Path

from promot_bench.errors import RunError
from promot_bench.evaluate import probes
from promot_bench.report import dose, dose_plots, forgetting, fronts, page, verdict
from promot_bench.report.columns import Row
from promot_bench.report.heatmaps import plot
from promot_bench.report.tables import (
    Table,
    build_tables,
    commits_line,
    header,
    load_results,
    markdown_table,
    row_cells,
)
from promot_bench.store.atomic import atomic_write_text
from promot_bench.store.cache import locked
from promot_bench.store.locks import lock_path, remove_stale_temporaries


def diagnostics(out: Path) -> list[dict]:
    """The diagnose runs under out/diagnose (from `promot-bench diagnose`), with their plots."""
    found = []
    for path in sorted((out / "diagnose").glob("**/*.json")):
        try:
            result = json.loads(path.read_text())
            found.append(
                {
                    "path": path.relative_to(out).as_posix(),
                    "tuners": ", ".join(result["tuners"]),
                    "train": result["train"],
                    "model": result["model"]["name"],
                    "plots": [Path(p).name for p in result.get("plots", [])],
                }
            )
        except (ValueError, KeyError, TypeError):
            raise RunError(
                f"diagnose file {path} is damaged; delete it and rerun its `promot-bench diagnose`"
            ) from None
    return found


def probe_cards(out: Path) -> list[dict]:
    """The probe cards under out/probes (from `promot-bench probes`), each with its path."""
    cards = []
    for path in sorted((out / "probes").glob("**/*.json")):
        try:
            card = json.loads(path.read_text())
            _ = card["summary"], card["probes"], card["model"]["name"]
        except (ValueError, KeyError, TypeError):
            raise RunError(
                f"probe card {path} is damaged; delete it and rerun its `promot-bench probes`"
            ) from None
        cards.append({**card, "path": path.relative_to(out).as_posix()})
    return cards


def probe_cards_markdown(cards: list[dict]) -> list[str]:
    if not cards:
        return []
    lines = ["## Probe cards (the pretrained model: can each probe see forgetting?)", ""]
    for card in cards:
        lines += [
            f"### {probes.title(card)}",
            "",
            f"From [{card['path']}]({card['path']}): `{card['command']}`",
            "",
        ]
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
    if not made:
        return []
    lines = [
        "## Dose curves and the learning–retention frontier",
        "",
        "Dose: Δ in-context mean, the collapse rate and the target score against training examples "
        "per stage, "
        "one line per tuner, from the dose cells (`--budget N`: final weights of each budget, "
        "keep-best off). "
        "Frontier: every tuner × budget of the target with both 95% intervals, the marker's size "
        "growing with the budget, a line joining each tuner's dose cells in budget order and "
        "keep-best matrix cells as stars, and the Pareto front (no other point as good on both "
        "axes and better on one).",
        "",
    ]
    for key, files in made.items():
        lines += (
            [f"### {dose.title(key)}", ""]
            + [f"![{name}]({path})" for name, path in files.items()]
            + [""]
        )
    return lines


def markdown(
    tables: list[Table],
    plots: dict,
    found: list[dict] | None = None,
    cards: list[dict] | None = None,
    doses: dict | None = None,
    verdicts: list | None = None,
    source: str = "results",
    measures: list | None = None,
    compared: list | None = None,
) -> str:
    lines = [
        "# promot-bench leaderboard",
        "",
        f"Generated by `promot-bench leaderboard` from `{source}/runs/**/seed*.json`; do not edit.",
        "Eval-task columns: 1-shot (or 4-shot) score after tuning with the soft prompt stripped; "
        "mean ± stderr over seeds. Δ mean: against the pretrained model. A row of several seeds is "
        "about its tuner, and its marks come from seed-level tests only: `*` = the t test over "
        "seeds (one value per seed, n − 1 degrees of freedom) has a p value below 0.05 after "
        "Holm's correction over every test in that table. A row of one seed is about one trained "
        "model: `†` = its 95% paired interval over items excludes 0 (no star). vs ft: mean "
        "in-context score minus `ft`'s on the same target, seed and items, with the same marks "
        "and its own mde. "
        "Target: 0-shot, with the tuner's prompt attached; a cell trained on several targets "
        "(multi-task `a+b`, sequential `a-then-b`) shows each target's own score. ↓: a task whose"
        " metric is better when lower (from its own config). mde: the minimum detectable effect "
        "of Δ mean at 80% power, 5% two-sided: over seeds the noncentral t's at n − 1 degrees of "
        "freedom (about 5.7 SE at three seeds); for one seed 2.8 × its item-level SE; differences "
        "smaller than it the cell could not reliably see. "
        "collapse Δ: change in the share of outputs (percentage points, mean over eval tasks) in "
        "the target's format — first word one of its labels, or the target's language — the "
        "collapse rate; marks as for Δ mean. KL: the KL divergence from the pretrained model to"
        " the tuned one at the gold answers' positions (nats, mean over generative probes; seed"
        " mean); held-out CE Δ: the change in mean per-token cross-entropy on 100 held-out "
        "Wikipedia articles (nats; higher is more forgetting) — the field's two forgetting "
        "measures, descriptive (not tested, no marks). flips −/+: items (all probes together; "
        "seed mean) right before and wrong after / wrong before and right after (for graded "
        "probes: whose own score fell / rose); per probe and with examples in each result "
        "file's `flips`. –: not in the result files (older results).",
        "",
        *verdict.markdown(verdicts or []),
        *fronts.markdown(compared or []),
        *forgetting.markdown(measures or []),
    ]
    for table in tables:
        lines += [f"## {table.title}", ""]
        lines += markdown_table(header(table), [row_cells(table, row) for row in table.rows])
        lines += ["", commits_line(table), ""]
        for name, path in plots.get(table.slug, {}).items():
            lines.append(f"![{name}]({path})")
        lines.append("")
    return "\n".join(
        lines
        + dose_markdown(doses or {})
        + probe_cards_markdown(cards or [])
        + diagnostics_markdown(found or [])
    )


def csv_text(tables: list[Table]) -> str:
    """One line per table, tuner row and eval task (a DataFrame's CSV: the columns are the
    records' keys, named once)."""
    import pandas as pd

    records = [
        csv_record(table, row, task)
        for table in tables
        for row in table.rows
        for task in table.tasks
    ]
    # the header even with no rows: the keys of an empty table's record
    columns = list(csv_record(Table("", "", 0, []), Row("", "", "", [], None, {}, ()), "").keys())
    return pd.DataFrame.from_records(records, columns=columns).to_csv(
        index=False, lineterminator="\n"
    )


def csv_record(table: Table, row: Row, task: str) -> dict:
    """One task of one tuner row, with the table's identity and the row's seed-level tests."""
    target = row.target if row.target and row.target[1] is not None else ("", "", "")
    score_mean, score_stderr = row.tasks.get(task, ("", ""))
    delta_mean, delta_mean_stderr = row.delta_mean or ("", "")
    versus_ft, versus_ft_stderr = row.versus_ft or ("", "")
    collapse_delta_mean, collapse_delta_mean_stderr = row.collapse_delta or ("", "")
    kl_mean, kl_stderr = row.kl or ("", "")
    heldout_delta, heldout_delta_stderr = row.heldout_delta or ("", "")
    flips_lost, flips_gained = (row.flips_tasks or {}).get(task, ("", ""))
    flips_lost_all, flips_gained_all, flips_n_all = row.flips or ("", "", "")
    return {
        "model": table.model,
        "eval_group": table.group,
        "shots": table.shots,
        "preset": table.preset,
        "budget": table.budget or "",
        "keep_best": "" if table.keep_best is None else table.keep_best,
        "data_hash": table.data_hash or "",
        "tuner": row.tuner or "pretrained",
        "train": row.train,
        "seeds": " ".join(map(str, row.seeds)),
        "target_task": target[0],
        "target_mean": target[1],
        "target_stderr": target[2],
        "target_scores": per_target_text(row),
        "task": task,
        "score_mean": score_mean,
        "score_stderr": score_stderr,
        "mean": row.mean[0] if row.mean else "",
        "delta_mean": delta_mean,
        "delta_mean_stderr": delta_mean_stderr,
        "delta_mean_p_holm": blank(row.delta_p),
        "versus_ft": versus_ft,
        "versus_ft_stderr": versus_ft_stderr,
        "versus_ft_mde": blank(row.versus_ft_mde),
        "versus_ft_p_holm": blank(row.versus_ft_p),
        "versus_ft_power": blank(row.versus_ft_test.power if row.versus_ft_test else None),
        "mde": blank(row.mde),
        "collapse_delta": (row.collapse_tasks or {}).get(task, ""),
        "collapse_delta_mean": collapse_delta_mean,
        "collapse_delta_mean_stderr": collapse_delta_mean_stderr,
        "kl_mean": kl_mean,
        "kl_stderr": blank(kl_stderr),
        "heldout_ce_delta": heldout_delta,
        "heldout_ce_delta_stderr": blank(heldout_delta_stderr),
        "flips_lost": flips_lost,
        "flips_gained": flips_gained,
        "flips_lost_all": flips_lost_all,
        "flips_gained_all": flips_gained_all,
        "flips_n_all": flips_n_all,
    }


def blank(value) -> object:
    return "" if value is None else value


def per_target_text(row) -> str:
    """Each target's own mean score where the row trained on several ("task=mean;task=mean"):
    target_mean is then their mean, which mixes metrics."""
    return ";".join(f"{t}={v[0]}" for t, v in (row.per_target or {}).items())


def build(out: Path) -> list[Path]:
    with locked(lock_path(out / "LEADERBOARD.md")):  # one build at a time per results folder
        for folder in (out, out / "plots"):  # what a killed earlier build left half-written
            remove_stale_temporaries(folder)
        return _build(out)


def _build(out: Path) -> list[Path]:
    results = load_results(out)
    if not results:
        raise RunError(f"no result files under {out / 'runs'}: run `promot-bench run` first")
    tables = build_tables(results)
    verdicts = verdict.verdicts(results)
    plots = {t.slug: {k: v for k, v in plot(t, out / "plots").items()} for t in tables}
    doses = dose_plots.plots(results, out / "plots")
    measures = forgetting.correlations(results)
    compared = fronts.comparisons(results)

    def relative(made: dict) -> dict:  # the plots' paths as the Markdown page links them
        return {
            key: {k: v.relative_to(out).as_posix() for k, v in files.items()}
            for key, files in made.items()
        }

    written = [out / "LEADERBOARD.md", out / "LEADERBOARD.csv", out / "LEADERBOARD.html"]
    atomic_write_text(
        written[0],
        markdown(
            tables,
            relative(plots),
            diagnostics(out),
            probe_cards(out),
            relative(doses),
            verdicts,
            out.as_posix(),
            measures,
            compared,
        ),
    )
    atomic_write_text(written[1], csv_text(tables))
    html = page.html_page(tables, relative(plots), relative(doses), verdicts, measures, compared)
    atomic_write_text(written[2], html)
    return written + [p for files in [*plots.values(), *doses.values()] for p in files.values()]
