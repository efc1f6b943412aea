"""`promot-bench seed-plan`: the seeds a protocol's written rule plans, from its pilot's results.

The rule (`config.SeedRule`, in the preset) was written before the pilot ran. Per target, from the
pilot seeds' headline difference (e.g. ProMoT − ft of the mean in-context score, seed by seed on
the same items), the seed SD gives the fewest seeds whose t test reaches the planned power for the
planned effect, within the rule's minimum and cap. Only the spread enters, never a p value: the
plan cannot be steered toward a result.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

from promot_bench import config
from promot_bench.errors import RunError, UsageError
from promot_bench.evaluate import seed_statistics as ss
from promot_bench.report.tables import load_results
from promot_bench.store import provenance
from promot_bench.store.atomic import atomic_write_text


def pilot_differences(results: list[dict], rule: config.SeedRule, target: str, model: str) -> dict:
    """seed -> compare[0]'s mean in-context score minus compare[1]'s, over the pilot seeds."""
    ours, theirs = rule.compare
    cells = {
        tuner: {
            r["seed"]: r["mean"]["after"]
            for r in results
            if r["tuner"] == tuner
            and r["train"] == target
            and r["model"]["name"] == model
            and r["seed"] in rule.pilot_seeds
        }
        for tuner in (ours, theirs)
    }
    missing = [
        f"{tuner} seed {seed}"
        for tuner in (ours, theirs)
        for seed in rule.pilot_seeds
        if seed not in cells[tuner]
    ]
    if missing:
        raise RunError(
            f"the pilot on {target} is not complete ({', '.join(missing)} missing): run it first"
        )
    return ss.paired_differences(cells[ours], cells[theirs])


def plan(out: Path, preset: str, model: str) -> dict:
    rule = config.seed_rule(preset)
    results = [
        r
        for r in load_results(out)
        if r.get("preset") == preset
        and not (r.get("budget") or {}).get("label")
        and r["model"]["name"] == model
        and r["seed"] in rule.pilot_seeds
    ]
    versions = sorted({str(r.get("data_hash"))[:12] for r in results})
    if len(versions) > 1:
        raise UsageError(
            f"the pilot's cells come from {len(versions)} data versions ({', '.join(versions)}): "
            "a seed SD across data versions plans nothing; keep one version's results in --out"
        )
    targets = {}
    for target in rule.targets:
        differences = pilot_differences(results, rule, target, model)
        test = ss.seed_test(differences.values())
        needed = (
            ss.seeds_needed(rule.effect, test.sd, rule.power, rule.alpha, cap=rule.cap)
            if test.sd
            else rule.minimum
        )
        seeds = rule.cap if needed is None else max(rule.minimum, needed)
        targets[target] = {
            "pilot_differences": differences,
            "pilot_sd": test.sd,
            "seeds_needed": needed,  # None: more than the cap
            "seeds": seeds,
            "capped": needed is None,
            "planned_power": ss.power(rule.effect, test.sd, seeds, rule.alpha) if test.sd else 1.0,
            "planned_mde": ss.mde(test.sd / seeds**0.5, seeds) if test.sd else None,
        }
    return {
        "command": provenance.command_line(),
        **provenance.identity(),
        "date": time.strftime("%Y-%m-%d"),
        "preset": preset,
        "model": model,
        "rule": asdict(rule),
        "targets": targets,
    }


def commands(found: dict) -> list[str]:
    """The sweeps the plan asks for (finished cells are skipped when they run)."""
    rule, preset = found["rule"], found["preset"]
    ours, theirs = rule["compare"]
    lines = []
    for target, entry in found["targets"].items():
        seeds = ",".join(map(str, range(entry["seeds"])))
        lines.append(
            f"promot-bench sweep --preset {preset} --tuners {theirs},{ours} --train {target} "
            f"--seeds {seeds}"
        )
    for tuner, n in rule["other_seeds"].items():
        seeds = ",".join(map(str, range(n)))
        trains = ",".join(found["targets"])
        lines.append(
            f"promot-bench sweep --preset {preset} --tuners {tuner} --train {trains} "
            f"--seeds {seeds}"
        )
    return lines


def text(found: dict) -> str:
    rule = found["rule"]
    ours, theirs = rule["compare"]
    lines = [
        f"seed plan for {found['preset']} ({found['model']}): {ours} − {theirs}, "
        f"{rule['power']:.0%} power for {rule['effect']:g} points at alpha {rule['alpha']:g}, "
        f"seeds within [{rule['minimum']}, {rule['cap']}]",
        f"{'target':<8} {'pilot differences':<30} {'pilot SD':>8} {'needed':>7} {'seeds':>6} "
        f"{'power':>6} {'mde':>6}",
    ]
    for target, e in found["targets"].items():
        diffs = ", ".join(f"{v:+.2f}" for v in e["pilot_differences"].values())
        needed = f">{rule['cap']}" if e["capped"] else str(e["seeds_needed"])
        mde = "–" if e["planned_mde"] is None else f"{e['planned_mde']:.2f}"
        lines.append(
            f"{target:<8} {diffs:<30} {e['pilot_sd']:>8.2f} {needed:>7} {e['seeds']:>6} "
            f"{e['planned_power']:>6.0%} {mde:>6}"
        )
    return "\n".join(lines + ["", "the sweeps it plans:", *commands(found)])


def write(out: Path, found: dict) -> Path:
    path = out / "plans" / f"{found['model']}-{found['preset']}-seeds.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(found, indent=1))
    return path
