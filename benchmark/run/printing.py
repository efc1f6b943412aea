"""The lines a finished run prints: its row of the retention matrix, and where its model went."""

from __future__ import annotations

from promot_bench.models import export
from promot_bench.run.options import Plan


def signed(value: float, width: int = 0) -> str:
    """A change with its sign, except a zero (as printed): "0.00", never "-0.00" or "+0.00"."""
    text = f"{value:+.2f}"
    return (text[1:] if text[1:] == "0.00" else text).rjust(width)


def format_row(result: dict) -> str:
    t = result["target"]
    width = max(len(name) for name in [*result["before"], "eval task", "mean"])
    lines = [
        f"{result['tuner']} on {result['train']} ({result['model']['name']}, "
        f"{result['eval_group']}, "
        f"{result['shots']}-shot, seed {result['seed']})",
        f"target {result['target_task']}: {t['tuned']['score']:.1f} "
        f"(pretrained {t['pretrained']['score']:.1f})",
        f"{'eval task':<{width}} {'before':>7} {'after':>7} {'delta':>7}  {'95% interval':<18}  "
        "collapse (%)",
    ]
    collapsed = result.get("collapse") or {}  # absent from older results
    rows = [
        (name, b["score"], result["after"][name]["score"]) for name, b in result["before"].items()
    ]
    m = result["mean"]
    for name, before, after in [*rows, ("mean", m["before"], m["after"])]:
        delta = m["delta"] if name == "mean" else after - before
        lines.append(
            f"{name:<{width}} {before:7.2f} {after:7.2f} {signed(delta, 7)}  "
            f"{interval(result['delta_ci'][name]):<18}  {format_share(collapsed.get(name))}"
        )
    mde = result.get("mde")
    lines.append(f"mde (Δ mean, 80% power): {'–' if mde is None else f'{mde:.2f}'}")
    attached = result.get("after_attached")  # prompt-learning tuners only
    if attached:
        share = format_share((attached.get("collapse") or {}).get("mean"))
        lines.append(
            f"with the prompt attached to every probe (as PEFT's comparison scores prompt "
            f"methods): mean {attached['mean']:.2f}, {signed(attached['delta_ci']['delta'])} "
            f"{interval(attached['delta_ci'])}, collapse {share}"
        )
    gold = (result.get("gold_logprob") or {}).get("mean")  # absent from older results
    if gold:
        lines.append(
            f"gold log-prob per token (generative probes' mean): {gold['before']:.3f} -> "
            f"{gold['after']:.3f} {gold['delta']:+.3f}  {interval(gold['ci'])}"
        )
    total = (result.get("flips") or {}).get("total")  # absent from older results
    if total:
        lines.append(
            f"items flipped (all probes): {total['lost']} lost, {total['gained']} gained, "
            f"{total['unchanged']} unchanged of {total['n']}"
        )
    rule = (result.get("collapse_format") or {}).get("rule") if collapsed else None
    lines.append(
        "[95% paired interval of the delta over items (this one trained model); * = it "
        "excludes 0; collapse: "
        + (
            f"% of outputs in the target's format ({rule}), before→after; * = the change's "
            "interval "
            "excludes 0]"
            if rule
            else "not measured (older result, or a target without labels or language)]"
        )
    )
    return "\n".join(lines)


def finished_line(result: dict, p: Plan) -> str:
    """The first line a rerun of a finished cell prints: it is the earlier result."""
    when = result.get("created") or "an earlier run"
    return f"already done at {when}; showing the saved result ({p.result_path})"


def saved_line(result: dict, p: Plan) -> str:
    """Where --save-model kept the model, or why it did not (the cell had finished without it)."""
    if result.get("saved"):
        return "saved: " + export.describe(result["saved"]) + f" in {p.folder}"
    return (
        f"note: {p.result_path} finished earlier without --save-model, so its weights were not "
        "kept; "
        f"`promot-bench export {p.result_path} --to DIR` re-derives them"
    )


def interval(ci: dict) -> str:
    return f"[{signed(ci['low'])}, {signed(ci['high'])}]{' *' if ci['significant'] else ''}"


def format_share(entry: dict | None) -> str:
    """A probe's collapse rate in a printed row: "12→85 *" (percent; * = the change's interval
    excludes 0)."""
    if entry is None:
        return "–"
    return f"{entry['before']:.0f}→{entry['after']:.0f}{' *' if entry['ci']['significant'] else ''}"
