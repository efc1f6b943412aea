"""Fit a cell's tuner and score what it gives: one budget of a run (its own, or a dose
checkpoint of it) trained in the run's work folder, its target scored with what the tuner
attaches, its eval tasks on the weights alone, and its result assembled."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

from promot_bench import processes
from promot_bench.console import say
from promot_bench.evaluate import gold_logprob, heldout
from promot_bench.evaluate.evaluation import EvalOptions
from promot_bench.models import export, specs
from promot_bench.run import pipeline
from promot_bench.run.baseline import evaluate_json, score_json
from promot_bench.run.options import Plan
from promot_bench.run.pipeline import FitRun
from promot_bench.run.record import (
    Fitted,
    Scores,
    assemble,
    result_text,
    target_format_of,
    weights_hash,
    write_samples,
)
from promot_bench.run.resume import step
from promot_bench.store.atomic import atomic_write_text
from promot_bench.train import task_data
from promot_bench.tuners import TUNERS, Attachment


@dataclass
class Pretrained:
    """The run's pretrained model and what it scored, shared by every budget of the run: the
    loaded model and task manager, the baseline's content key, the eval tasks' and targets'
    scores, the weights' hash (None on a helper process), and the held-out text with the
    pretrained model's cross-entropies on it (None where they do not apply: seq2seq)."""

    loaded: object
    manager: object
    key: dict
    before: dict
    targets_before: dict
    pristine: str | None
    text: heldout.Text | None = None
    heldout: dict | None = None


def score_budget(p: Plan, q: Plan, pre: Pretrained, progress: bool, timings: dict) -> dict | None:
    """Fit plan `q` (the run's own budget, or a dose checkpoint of it) in `p`'s work folder and
    score it: the target with what the tuner attaches, the eval tasks on the weights alone. A
    checkpoint's result file is written here; the run's own is returned for `_execute` to write
    once its timings are complete. None on a data-parallel helper process."""
    o, main = q.options, processes.is_main()
    loaded, manager = pre.loaded, pre.manager
    own = q is p  # the run's own budget, not a dose checkpoint
    note = say if progress and main else (lambda text: None)
    work = p.work if own else p.work / q.budget
    work.mkdir(parents=True, exist_ok=True)
    timings = dict(timings) if own else {k: v for k, v in timings.items() if k in ("load",)}
    t0 = time.perf_counter()
    tuned, attached = fit(q, loaded, manager, progress and main, p.work / "train", not own)
    timings["train"] = round(time.perf_counter() - t0, 2)
    note(
        f"train: done in {timings['train']:.0f} s; scoring the target with what the tuner attaches"
    )
    saving = work / "save"  # the adapters now: stripping unloads lora-then-ft's
    if o.save_model and main:
        shutil.rmtree(saving, ignore_errors=True)
        export.save_adapters(saving / "peft", tuned, attached)
    # The targets first: lora-then-ft's adapter is still attached; stripping removes it.
    target = step(work, "target", lambda: _score_targets(q, pre, tuned, attached), timings)
    note("after: the eval tasks on the weights alone")
    kept = _score_retention(q, pre, tuned, attached, work, timings)
    if not main:
        return None  # the helper processes' one exit: from here on the main process writes
    note(
        f"after: done in {timings.get('after', 0):.0f} s"
        + (" (weights unchanged: the baseline reused)" if kept.unchanged else "")
        + (f"; held-out text in {timings['heldout']:.0f} s" if "heldout" in timings else "")
    )
    scores, fitted = _record_inputs(q, pre, kept.after, target, tuned, attached)
    scores.after_attached = kept.with_prompt
    result = assemble(q, scores, fitted, timings, pre.key)
    if kept.held is not None:
        result["heldout_ce"] = heldout.summary(pre.heldout, kept.held, seed=o.seed)
    result["kl"] = gold_logprob.kl_summary(kept.after, seed=o.seed, unchanged=kept.unchanged)
    if o.save_model:
        export.save_model(saving / "model", kept.stripped, loaded.tokenizer)
        result["saved"] = export.place(saving, q.folder, o.seed)
    write_samples(q, scores)
    if not own:
        atomic_write_text(q.result_path, result_text(result))
    return result


@dataclass
class Retention:
    """The eval tasks after tuning: on the weights alone (`after`; the baseline itself where the
    weights are unchanged), the held-out text's cross-entropies (None where they do not apply),
    and with the target's prompt attached (prompt-learning tuners; else None)."""

    stripped: object  # the tuned weights alone
    unchanged: bool
    after: dict
    held: dict | None
    with_prompt: dict | None


def _score_retention(
    q: Plan, pre: Pretrained, tuned, attached: dict, work: Path, timings
) -> Retention:
    stripped = tuned.stripped()
    # A tuner that leaves every weight bit-identical (pt) gives back the pretrained model:
    # its evaluation is the cached baseline, so it is reused rather than recomputed.
    unchanged = processes.main_decides(lambda: weights_hash(stripped) == pre.pristine)
    after = (
        pre.before
        if unchanged
        else step(work, "after", lambda: _score_after(q, pre, stripped), timings)
    )
    held = None
    if pre.heldout is not None:
        held = (
            pre.heldout
            if unchanged
            else step(work, "heldout", lambda: _score_heldout(q, pre, stripped), timings)
        )
    with_prompt = None
    if TUNERS[q.options.tuner].probes_attached and len(q.targets) == 1:
        attachment = attached[q.targets[0]]
        with_prompt = step(
            work,
            "after_attached",
            lambda: _score_attached(q, pre, tuned.model, attachment),
            timings,
        )
    return Retention(stripped, unchanged, after, held, with_prompt)


def _score_targets(q: Plan, pre: Pretrained, tuned, attached: dict) -> dict:
    """Each target, scored with what the tuner attaches (soft prompt, demonstration, adapter)."""
    return {
        t: score_json(
            pipeline.score_target(
                tuned.model,
                pre.loaded.tokenizer,
                t,
                attached[t],
                EvalOptions(manager=pre.manager, seed=q.options.seed),
            )
        )
        for t in q.targets
    }


def _score_probes(q: Plan, pre: Pretrained, model, label: str, **kw) -> dict:
    """The eval tasks on `model`, as `kw` asks (`evaluation.EvalOptions`' fields), shown under
    `label` (with the dose checkpoint's budget)."""
    o = q.options
    return evaluate_json(
        pre.loaded,
        pre.manager,
        o.seed,
        model,
        q.eval_tasks,
        limit=o.limit,
        num_fewshot=q.eval_shots,
        progress=label + ("" if q.dose_of is None else f" ({q.budget})"),
        **kw,
    )


def _score_after(q: Plan, pre: Pretrained, stripped) -> dict:
    """The eval tasks on the tuned weights alone, and each generative item's KL from the
    pretrained model (loaded again beside them for this pass: tuners change weights in place)."""
    # the KL rides on the shared-prefix gold pass, which decoder-only models take
    reference = None if pre.loaded.is_encoder_decoder else specs.load(q.spec).model
    return _score_probes(q, pre, stripped, "after", gold_logprob=True, kl_reference=reference)


def _score_attached(q: Plan, pre: Pretrained, model, attachment: Attachment) -> dict:
    """The eval tasks with the target's prompt attached to every one of their prompts (a
    prompt-learning tuner), as PEFT's method comparison scores such methods."""
    return _score_probes(
        q,
        pre,
        model,
        "after, prompt attached",
        soft_prompt=attachment.soft_prompt,
        demonstration=attachment.demonstration,
    )


def _score_heldout(q: Plan, pre: Pretrained, stripped) -> dict:
    """The tuned weights alone on the held-out text."""
    return heldout.score(stripped, pre.loaded.tokenizer, pre.text, q.options.limit)


def _record_inputs(q: Plan, pre: Pretrained, after, target, tuned, attached) -> tuple:
    """The result's inputs (`Scores`, `Fitted`), the soft prompts saved beside it."""
    training = {
        t: task_data.training_examples(task_data.load_task(t, pre.manager)) for t in q.targets
    }
    q.folder.mkdir(parents=True, exist_ok=True)
    for t in q.targets:
        if attached[t].soft_prompt is not None:
            attached[t].soft_prompt.save(prompt_path(q, t))
    # each target's cache entry is {task: scores}, as every cache holds
    targets_before = {t: entry[t] for t, entry in pre.targets_before.items()}
    fitted = Fitted(
        tuned,
        attached,
        target_format_of(training),
        {t: len(examples) for t, examples in training.items()},
    )
    return Scores(pre.before, after, targets_before, target), fitted


def fit(p: Plan, loaded, manager, progress: bool, workdir: Path | None = None, extendable=False):
    """Train the tuner on the plan's targets (in `workdir`, by default the plan's own); returns
    the final `Tuned` and, per target, what its evaluation attaches (an `Attachment`: soft prompt
    or None, text demonstration). `extendable`: a dose checkpoint, continued by the next budget."""
    o = p.options
    workdir = p.work / "train" if workdir is None else workdir
    tasks = [task_data.load_task(t, manager) for t in p.targets]
    if p.mode != "sequential":
        tuned = pipeline.fit(
            loaded,
            o.tuner,
            tasks if p.mode == "multi" else tasks[0],
            p.settings,
            manager,
            FitRun(workdir, progress, extendable=extendable),
        )
        return tuned, {t: tuned.attachment(t) for t in p.targets}
    # Sequential: the same tuner on each target in turn, each continuing from the weights the
    # previous one left (its adapter, if any, removed); each target keeps its own prompt.
    model, attached, reports = loaded.model, {}, []
    for number, (name, task) in enumerate(zip(p.targets, tasks), 1):
        tuned = pipeline.fit(
            loaded,
            o.tuner,
            task,
            p.settings,
            manager,
            FitRun(workdir / f"{number}-{name}", progress, model=model),
        )
        attached[name] = Attachment(tuned.soft_prompt, tuned.demonstration)
        reports += [replace(r, name=f"{name}/{r.name}") for r in tuned.reports]
        model = tuned.stripped()
    tuned.reports = reports
    return tuned, attached


def prompt_path(p: Plan, target: str) -> Path:
    """Where a target's soft prompt (or key/value prefix) is saved (one file per target when there
    are several)."""
    if len(p.targets) == 1:
        return p.folder / f"seed{p.options.seed}.prompt.safetensors"
    return p.folder / f"seed{p.options.seed}.prompt.{target}.safetensors"
