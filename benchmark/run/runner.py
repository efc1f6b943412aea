"""`promot-bench run`: one cell row of the in-context retention matrix.

1. the pretrained model on the eval suite (and on the target, 0-shot) - cached by content key;
2. the tuner fits the target's training split (checkpoints, keep-best on its validation split);
3. the target's test split with what the tuner attaches; the eval suite on the weights alone;
4. one result JSON (+ per-item JSONL) written atomically, and the row printed.

Every step keeps its output in the run's work folder until the result file is written, so an
interrupted run started again redoes nothing that had finished.

Under `accelerate launch` (or `torchrun`) every process runs these steps: the evaluations are
data-parallel and training is DDP or FSDP (train/distributed.py). The main process alone
reads and writes files; whether a step is already done is its decision, sent to the others.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path

from promot_bench import processes
from promot_bench.config import budget_label, rate_label
from promot_bench.console import say
from promot_bench.errors import RunError, UsageError, choices_text
from promot_bench.evaluate import evaluation, heldout
from promot_bench.evaluate.suites import (
    SUITES,
    Suite,
    TaskFinder,
    group_members,
    parse_train,
    resolve_target,
)
from promot_bench.models import specs
from promot_bench.run.baseline import (
    baseline_key,
    cached_evaluation,
    evaluate_json,
    pretrained_scores,
)
from promot_bench.run.dose import budget_overrides, clone_state, dose_plans
from promot_bench.run.fitting import Pretrained, score_budget
from promot_bench.run.options import Plan, RunOptions
from promot_bench.run.record import (
    read_result,
    result_text,
    same_settings,
    weights_hash,
)
from promot_bench.run.resume import claim_work
from promot_bench.store import provenance
from promot_bench.store.atomic import atomic_write_text
from promot_bench.store.cache import locked
from promot_bench.store.locks import lock_path, remove_stale_temporaries
from promot_bench.tasks import MAX_SHOTS
from promot_bench.tuners import TUNERS, load_settings


def plan(options: RunOptions) -> Plan:
    if options.tuner not in TUNERS:
        raise UsageError(f"unknown tuner '{options.tuner}': choose from {choices_text(TUNERS)}")
    if options.suite not in SUITES:
        raise UsageError(f"unknown suite '{options.suite}': choose from {choices_text(SUITES)}")
    suite = SUITES[options.suite]
    mode, names = parse_train(options.train)
    if mode == "multi" and not TUNERS[options.tuner].multi_task:
        raise UsageError(
            f"tuner '{options.tuner}' cannot train on several targets at once: "
            f"choose from {choices_text([n for n, t in TUNERS.items() if t.multi_task])}"
        )
    check_eval_options(options, suite)
    processes.launch_kind()  # refuses an unsupported launcher before anything runs
    finder = TaskFinder(options.include_path)
    target_tasks = [resolve_target(name, suite, finder) for name in names]
    eval_tasks, eval_shots = resolve_eval_tasks(options, suite, finder)
    settings = load_settings(options.preset, budget_overrides(options))
    TUNERS[options.tuner].check(settings)
    own = load_settings(options.preset, {"seed": options.seed})
    spec = specs.resolve(options.model)
    return Plan(
        options,
        spec,
        suite,
        eval_tasks,
        target_tasks,
        settings,
        mode,
        eval_shots,
        len(finder.managers) > 1,
        budget_label(settings, own),
        rate=rate_label(settings, own, TUNERS[options.tuner].lr_setting),
    )


def probe_count(p: Plan) -> str:
    """The eval set as a run's header names it: "promot_mini_v2 (10 probes)"."""
    if p.eval_shots is None:  # the suite's own group: count the tasks its YAML lists
        return f"{p.group} ({len(group_members(p.suite.folder, p.group))} probes)"
    return f"{len(p.eval_tasks)} eval task(s) or group(s): {p.group}"


def check_eval_options(options: RunOptions, suite: Suite) -> None:
    """The evaluation side of the options: shots, limit, task folders, the output folder."""
    if options.eval_tasks is None and options.shots not in suite.groups:
        raise UsageError(f"--shots {options.shots}: choose from {choices_text(suite.groups)}")
    if not 0 <= options.shots <= MAX_SHOTS:
        raise UsageError(f"--shots must be between 0 and {MAX_SHOTS}, got {options.shots}")
    if options.limit is not None and options.limit < 1:
        raise UsageError(f"--limit must be a positive integer, got {options.limit}")
    if not 0 <= options.seed <= MAX_SEED:
        raise UsageError(f"--seed must be between 0 and {MAX_SEED:,}, got {options.seed}")
    for folder in options.include_path:
        if not Path(folder).is_dir():
            raise UsageError(f"--include-path {folder} is not a folder")
    check_writable(options.out)


def resolve_eval_tasks(options: RunOptions, suite: Suite, finder) -> tuple[list[str], int | None]:
    """(what lm-eval evaluates, num_fewshot for it): the suite's group at its own shots, or the
    --eval-tasks, each checked to exist, at --shots."""
    if options.eval_tasks is None:
        return [suite.groups[options.shots]], None
    eval_tasks = [t.strip() for t in options.eval_tasks.split(",")]
    if (
        not options.eval_tasks.strip()
        or not all(eval_tasks)
        or len(set(eval_tasks)) != len(eval_tasks)
    ):
        raise UsageError(
            f"--eval-tasks expects a comma-separated list of distinct task names, "
            f"got '{options.eval_tasks}'"
        )
    for name in eval_tasks:
        finder(name, f"--eval-tasks: '{name}' is not an lm-eval task or group")
    return eval_tasks, options.shots


def eval_plan(options: RunOptions) -> Plan:
    """A plan that only evaluates the pretrained model on the eval set (no tuner, no target):
    what `promot-bench probes` runs, through the same checks and baseline cache as `run`."""
    if options.suite not in SUITES:
        raise UsageError(f"unknown suite '{options.suite}': choose from {choices_text(SUITES)}")
    suite = SUITES[options.suite]
    check_eval_options(options, suite)
    processes.launch_kind()
    finder = TaskFinder(options.include_path)
    eval_tasks, eval_shots = resolve_eval_tasks(options, suite, finder)
    spec = specs.resolve(options.model)
    return Plan(
        options, spec, suite, eval_tasks, [], None, "single", eval_shots, len(finder.managers) > 1
    )


MAX_SEED = 2**32 - 1  # numpy's and lm-eval's seeds are unsigned 32-bit


def check_writable(out: Path) -> None:

    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder")
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out} is not writable")
    try:  # what the permission bits do not tell (a read-only mount, /proc): write and remove a file
        with tempfile.NamedTemporaryFile(dir=probe, prefix=".promot-bench-probe-"):
            pass
    except OSError:
        raise UsageError(f"--out {out} is not writable") from None


def execute(p: Plan, progress: bool = True) -> dict | None:
    """Run the cell, or read its finished result. None on a data-parallel helper process: it
    computes everything the main one does, and the main one alone writes and reports."""
    processes.init_group()
    main = processes.is_main()
    # One invocation per cell at a time: a second one waits, then finds the finished result.
    with locked(lock_path(p.result_path)) if main else contextlib.nullcontext():
        if processes.main_decides(p.result_path.is_file):
            return same_settings(read_result(p.result_path), p) if main else None
        if main:
            remove_stale_temporaries(p.folder)
        return _execute(p, progress and main)


def _pretrained(p: Plan, loaded, manager, key: dict, text) -> Pretrained:
    """The pretrained model's scores on the eval tasks, (0-shot, as in the study, whatever
    their YAML's num_fewshot says) on each target and on the held-out text, from the cache
    (`key`) where it holds them."""
    before = pretrained_scores(p, loaded, manager, key)
    # cached as {task: scores}, the entry format every cache already holds
    targets_before = {
        t: cached_evaluation(
            {**key, "tasks": t, "shots": 0},
            lambda t=t: evaluate_json(
                loaded, manager, p.options.seed, loaded.model, [t], num_fewshot=0
            ),
        )
        for t in p.targets
    }
    pristine = weights_hash(loaded.model) if processes.is_main() else None
    held = None
    if text is not None:  # the same whatever the seed: one entry for every seed
        held = cached_evaluation(
            {**key, "tasks": f"heldout:{text.sha256[:16]}", "shots": 0},
            lambda: {
                "heldout": {
                    "depends_on_seed": False,
                    **heldout.score(loaded.model, loaded.tokenizer, text, p.options.limit),
                }
            },
        )["heldout"]
    return Pretrained(loaded, manager, key, before, targets_before, pristine, text, held)


def _execute(p: Plan, progress: bool) -> dict | None:
    o = p.options
    provenance.code_identity()  # the code this run starts with is the code it records
    main = processes.is_main()
    started = time.perf_counter()
    timings: dict = {}
    t0 = time.perf_counter()
    # before anything is written: a model or held-out text that cannot load leaves no trace
    loaded = specs.load(p.spec)
    if loaded.is_encoder_decoder and TUNERS[o.tuner].decoder_only:
        raise UsageError(f"{o.tuner} attaches to decoder-only models only; {p.spec.name} is not")
    # the held-out cross-entropy is a causal LM's next-token loss: none for an encoder-decoder
    text = None if loaded.is_encoder_decoder else heldout.load_text()
    manager = evaluation.task_manager(o.include_path, defaults=p.lm_eval_defaults)
    timings["load"] = round(time.perf_counter() - t0, 2)
    note = say if progress else (lambda text: None)
    note(
        f"{o.tuner} on {o.train} ({p.spec.name}, {p.group}, {o.shots}-shot, seed {o.seed}"
        f"{', ' + p.variant if p.variant else ''}): model loaded in {timings['load']:.0f} s"
    )
    p.work.mkdir(parents=True, exist_ok=True)
    refusal = processes.main_decides(lambda: claim_work(p.work))
    if refusal:
        raise RunError(refusal)
    key = baseline_key(p, loaded)
    t0 = time.perf_counter()
    note(
        f"before: the pretrained model on {probe_count(p)} and the target (cached after the "
        "first run, for every seed where the seed cannot change an output)"
    )
    pretrained = _pretrained(p, loaded, manager, key, text)
    timings["before"] = round(time.perf_counter() - t0, 2)
    note(f"before: done in {timings['before']:.0f} s; training")
    budgets = dose_plans(p)
    # A dose run trains its budgets as one path: each fit continues the last one's stage, from
    # the pretrained weights put back (tuners change the model in place: merge, interpolate).
    initial = clone_state(loaded.model) if len(budgets) > 1 else None
    result = None
    for number, q in enumerate(budgets):
        last = number == len(budgets) - 1
        if not last and processes.main_decides(q.result_path.is_file):
            continue  # scored by an earlier, interrupted invocation
        if initial is not None and number:
            loaded.model.load_state_dict(initial)
        result = score_budget(p, q, pretrained, progress, timings)
        if result is not None and not last:
            note(f"dose checkpoint {q.budget}: result {q.result_path}")
    if not main:
        return None
    result["timings"]["total"] = round(time.perf_counter() - started, 2)
    atomic_write_text(p.result_path, result_text(result))
    shutil.rmtree(p.work, ignore_errors=True)  # checkpoints are large; the result is complete
    return result
