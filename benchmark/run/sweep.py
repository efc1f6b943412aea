"""`promot-bench sweep`: tuners × targets × seeds, one `run` per cell.

Every cell is planned (and so validated) before the first one runs; finished cells are
skipped, so a sweep killed half-way continues where it stopped when started again.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import replace

from promot_bench import processes
from promot_bench.console import say as progress_say
from promot_bench.errors import UsageError
from promot_bench.run import runner
from promot_bench.run.options import Plan, RunOptions


def split_list(text: str, what: str) -> list[str]:
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise UsageError(f"{what} expects a comma-separated list, got '{text}'")
    if len(set(items)) != len(items):
        raise UsageError(f"{what} lists a name twice: '{text}'")
    return items


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in split_list(text, "--seeds")]
    except ValueError:
        raise UsageError(f"--seeds expects comma-separated integers, got '{text}'") from None
    if len(set(seeds)) != len(seeds):  # "1,01" is one seed twice
        raise UsageError(f"--seeds lists a seed twice: '{text}'")
    return seeds


def parse_steps(text: str | None) -> list[int | None]:
    """--budgets' budgets ([None]: the preset's own), each a positive integer."""
    if text is None:
        return [None]
    budgets = split_list(text, "--budgets")
    if not all(re.fullmatch(r"[0-9]+", b) and int(b) > 0 for b in budgets):
        raise UsageError(
            f"--budgets expects comma-separated positive integers (training steps), got '{text}'"
        )
    return [int(b) for b in budgets]


def parse_rates(text: str | None) -> list[float | None]:
    """--lrs' learning rates ([None]: the preset's own), each a positive finite number, none
    twice ("1e-4,0.0001" is one rate twice)."""
    if text is None:
        return [None]
    items = split_list(text, "--lrs")
    try:
        rates = [float(item) for item in items]
    except ValueError:
        raise UsageError(f"--lrs expects comma-separated numbers, got '{text}'") from None
    if not all(rate > 0 and math.isfinite(rate) for rate in rates):
        raise UsageError(f"--lrs expects positive finite learning rates, got '{text}'")
    if len(set(rates)) != len(rates):
        raise UsageError(f"--lrs lists a rate twice: '{text}'")
    return rates


def plans(
    base: RunOptions,
    tuners: list[str],
    trains: list[str],
    seeds: list[int],
    budgets: list[int | None] = (None,),
    rates: list[float | None] = (None,),
) -> list[Plan]:
    return [
        runner.plan(replace(base, tuner=tuner, train=train, seed=seed, steps=steps, lr=lr))
        for train in trains
        for tuner in tuners
        for lr in rates
        for steps in budgets
        for seed in seeds
    ]


def execute(cells: list[Plan], progress: bool = True) -> list[dict]:
    """Every cell's result (none on a data-parallel helper process, which prints nothing)."""
    results = []
    # progress on stderr (stdout keeps the sweep's one closing line), on the main process only
    note = progress_say if processes.is_main() else (lambda text: None)
    swept, computed, spent = time.perf_counter(), 0, 0.0  # ETA from the cells computed so far
    for number, cell in enumerate(cells, 1):
        o = cell.options
        budget = f", {o.steps} steps" if o.steps is not None else ""
        rate = f", lr {o.lr:g}" if o.lr is not None else ""
        name = f"[{number}/{len(cells)}] {o.tuner} on {o.train}{rate}{budget}, seed {o.seed}"
        if cell.result_path.is_file():
            note(f"{name}: finished earlier ({cell.result_path})")
            result = runner.execute(cell, progress)
            results += [result] if result is not None else []
            continue
        note(f"{name}: running")
        started = time.perf_counter()
        result = runner.execute(cell, progress)
        if result is None:  # a data-parallel helper process: the main one reports
            continue
        computed, spent = computed + 1, spent + time.perf_counter() - started
        left = sum(not c.result_path.is_file() for c in cells[number:])
        eta = f", about {spent / computed * left / 60:.0f} min left" if left else ""
        note(
            f"{name}: done in {time.perf_counter() - started:.0f} s; target "
            f"{result['target']['tuned']['score']:.1f}, "
            f"mean in-context {result['mean']['before']:.1f} → {result['mean']['after']:.1f} "
            f"(sweep: {time.perf_counter() - swept:.0f} s elapsed{eta})"
        )
        results.append(result)
    return results
