"""The result file: its schema, how a finished run's numbers become it (deltas, intervals, mde,
collapse, gold log-probabilities, flips, budget, hashes), and the samples file beside it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from promot_bench import processes
from promot_bench.errors import RunError, UsageError
from promot_bench.evaluate import gold_logprob
from promot_bench.evaluate.flips import flips
from promot_bench.evaluate.formats import TargetFormat, breakdown, collapse, target_format
from promot_bench.evaluate.samples import compressed, pack, shared_folder
from promot_bench.evaluate.statistics import item_values, mde, paired_interval
from promot_bench.run.options import Plan
from promot_bench.store import provenance, result_file
from promot_bench.store.atomic import atomic_write_bytes
from promot_bench.train.kv_prefix import KVPrefix
from promot_bench.tuners import TUNERS

# 2: several targets (target_tasks, training, per-target prompts); 3: the run's options as data
SCHEMA_VERSION = 3
# Fields added since without a bump, optional to every reader (older results lack them):
# `mde`, `collapse` and `collapse_format`, `se` in each delta_ci entry, `gold_logprob` and
# `eval_batch_size`.


def read_result(path: Path) -> dict:
    """A finished cell's result; one written by us is complete (atomic writes), so a damaged one
    was changed from outside: refused, never silently recomputed over."""
    try:
        return result_file.read(path)
    except result_file.UnreadableResult as exc:
        raise RunError(
            f"result file {path} is damaged ({exc.reason}): delete it to rerun this cell"
        ) from None


def same_settings(result: dict, p: Plan) -> dict:
    """A finished result, refused (one line) when it was trained with other settings than the
    plan's: a different --set would otherwise get the old cell's numbers back silently."""
    theirs, ours = result.get("config") or {}, p.settings.to_dict()
    differ = sorted(k for k in theirs.keys() & ours.keys() if theirs[k] != ours[k])
    if differ:
        shown = ", ".join(f"{k} {theirs[k]} there, {ours[k]} here" for k in differ[:3])
        raise UsageError(
            f"{p.result_path} holds this cell trained with other settings ({shown}): "
            "use another --out, or delete it to rerun"
        )
    return result


def budget_record(p: Plan, reports: list, train_sizes: dict) -> dict:
    """What the cell trained on: per stage, steps and examples (global batch: batch_size x
    grad_accum, split over processes), the step whose weights were kept, and epochs of each
    target's training split (targets trained together share one shuffled pool)."""
    batch = p.settings.train.batch_size * p.settings.train.grad_accum
    stages = []
    for r in reports:
        # sequential stages are named "<target>/<stage>" and train on that target alone
        own = r.name.split("/", 1)[0] if p.mode == "sequential" else None
        pool = train_sizes[own] if own else sum(train_sizes.values())
        kept = r.best_step if p.settings.train.keep_best and r.best_step else r.steps
        stages.append(
            {
                "name": r.name,
                "steps": r.steps,
                "examples": r.steps * batch,
                "kept_step": kept,
                "epochs": {
                    t: round(r.steps * batch / pool, 4) for t in ([own] if own else p.targets)
                },
            }
        )
    dosed = bool(p.settings.train.dose) and p.mode != "sequential" and bool(stages)
    return {
        "label": p.budget,
        "keep_best": p.settings.train.keep_best,
        "batch": batch,
        "train_examples": train_sizes,
        "examples_per_stage": max((s["examples"] for s in stages), default=0),
        "stages": stages,
        # a dose from checkpoints of one run: the last stage's steps here, and the steps of the
        # run's own budget this is a checkpoint of (equal for the run's own result)
        "dose": {
            "stage": stages[-1]["name"],
            "steps": stages[-1]["steps"],
            "examples": stages[-1]["examples"],
            "of_steps": p.dose_of or stages[-1]["steps"],
            "fractions": p.settings.train.dose,
        }
        if dosed
        else None,
    }


def weights_hash(model) -> str:

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def tensor_hash(tensor) -> str:

    values = tensor.detach().cpu().contiguous()
    return hashlib.sha256(str(tuple(values.shape)).encode() + values.numpy().tobytes()).hexdigest()


def summary(scores: dict) -> dict:
    return {name: {k: v for k, v in s.items() if k != "samples"} for name, s in scores.items()}


def mean(scores: dict) -> float:
    return sum(s["score"] for s in scores.values()) / len(scores)


def target_summary(p: Plan, targets_before: dict, target: dict, attached: dict) -> dict:
    """Per target: pretrained and tuned scores and what was attached; `target` (one target's
    entry, or for several the mean of their scores) is what tables show."""
    per_target = {
        t: {
            "pretrained": summary({t: targets_before[t]})[t],
            "tuned": summary({t: target[t]})[t],
            "attached": {
                "soft_prompt": attached[t].soft_prompt is not None,
                "kv_prefix": isinstance(attached[t].soft_prompt, KVPrefix),
                "demonstration": attached[t].demonstration,
            },
        }
        for t in p.targets
    }
    if len(p.targets) == 1:
        return per_target[p.targets[0]]
    return {
        "pretrained": {
            "score": sum(targets_before[t]["score"] for t in p.targets) / len(p.targets),
            "metric": "mean of the targets' scores",
        },
        "tuned": {
            "score": sum(target[t]["score"] for t in p.targets) / len(p.targets),
            "stderr": None,
            "metric": "mean of the targets' scores",
        },
        "per_target": per_target,
    }


def target_format_of(training: dict):
    """What the targets' answers look like (labels or a language), from their training examples
    (target -> examples): diagnose's rule, over all targets' examples together as diagnose
    takes them."""
    return target_format([ex for examples in training.values() for ex in examples])


@dataclass
class Scores:
    """What a run scored, each {task: scores}: the eval tasks on the pretrained weights (before)
    and on the tuned weights alone (after), the targets 0-shot on the pretrained model and with
    what the tuner attaches."""

    before: dict
    after: dict
    targets_before: dict
    target: dict
    after_attached: dict | None = None  # the eval tasks with the target's prompt attached

    def phases(self) -> tuple:
        """(phase name in the samples file, {task: scores}), in the file's order."""
        found = (
            ("before", self.before),
            ("after", self.after),
            ("target_pretrained", self.targets_before),
            ("target_tuned", self.target),
        )
        if self.after_attached is not None:
            found += (("after_attached", self.after_attached),)
        return found


@dataclass
class Fitted:
    """What the tuner gave (`Tuned`, and per target its `Attachment`) and what it trained on:
    the targets' format (None: no collapse rate) and each target's training examples (for the
    budget's epochs)."""

    tuned: object
    attached: dict
    fmt: TargetFormat | None
    train_sizes: dict


def assemble(p: Plan, scores: Scores, fitted: Fitted, timings: dict, key: dict) -> dict:
    """The result file's content; `key` is the baseline's content key (identities computed
    once)."""
    return {
        "schema_version": SCHEMA_VERSION,
        **provenance.header(p.options.command(), p.options.argv),
        "options": p.options.to_record(),  # what re-creates the run (`command` says it in words)
        **_cell(p, fitted, key),
        "timings": timings,
        "stages": [r.to_dict() for r in fitted.tuned.reports],
        "target": target_summary(p, scores.targets_before, scores.target, fitted.attached),
        **_retention(p, scores, fitted.fmt or TargetFormat()),
        "after_attached": _after_attached(p, scores, fitted.fmt or TargetFormat()),
        "weights_sha256": weights_hash(fitted.tuned.stripped()),
        # the weights were unchanged, so the baseline was reused
        "after_is_baseline": scores.after is scores.before,
        # of the prompt's values (the safetensors header orders its metadata differently per write)
        "soft_prompt_sha256": {
            t: tensor_hash(fitted.attached[t].soft_prompt.weight)
            for t in p.targets
            if fitted.attached[t].soft_prompt is not None
        }
        or None,
        "samples": p.samples_path.name,
    }


def _cell(p: Plan, fitted: Fitted, key: dict) -> dict:
    """Which cell this is: model, suite, data, tuner, settings, budget and learning rate."""
    o = p.options
    return {
        "training_processes": processes.world_size(),
        "training_parallel": processes.launch_kind(),
        "model": {"spec": p.spec.text, "name": p.spec.name, "identity": key["model"]},
        "suite": p.suite.key,
        "eval_group": p.group,
        "shots": o.shots,
        "seed": o.seed,
        "limit": o.limit,
        "eval_batch_size": key["batch_size"],
        "train": o.train,
        "training": p.mode,
        "target_task": p.joined_targets,
        "target_tasks": p.targets,
        "tuner": o.tuner,
        "preset": o.preset,
        "config": p.settings.to_dict(),
        "budget": budget_record(p, fitted.tuned.reports, fitted.train_sizes),
        # the tuner's own learning rate: its setting, value and label (None: the preset's own)
        "learning_rate": {
            "setting": TUNERS[o.tuner].lr_setting,
            "value": p.settings.to_dict()[TUNERS[o.tuner].lr_setting],
            "label": p.rate,
        },
        "data_hash": key["data_hash"],
        "suite_version": key["suite_version"],
    }


def paired_items(before: dict, after: dict) -> dict:
    """Per eval task: its aggregation and the items' values on both sides, in one order."""
    return {
        name: (
            before[name]["aggregation"],
            item_values(before[name]["samples"]),
            item_values(after[name]["samples"]),
        )
        for name in before
    }


def _after_attached(p: Plan, scores: Scores, fmt: TargetFormat) -> dict | None:
    """The eval tasks with the target's prompt attached (prompt-learning tuners): scores, mean,
    its change from before with the paired interval over items, and the collapse rate; None for
    every other tuner."""
    before, attached, seed = scores.before, scores.after_attached, p.options.seed
    if attached is None:
        return None
    return {
        "scores": summary(attached),
        "mean": mean(attached),
        "delta_ci": paired_interval(paired_items(before, attached), seed=seed)["mean"],
        "collapse": collapse(before, attached, fmt, seed=seed),
    }


def _retention(p: Plan, scores: Scores, fmt: TargetFormat) -> dict:
    """The eval tasks before and after: scores, deltas with paired intervals over items, mde,
    format (collapse) and breakdown rates, gold log-probabilities and flips."""
    before, after, seed = scores.before, scores.after, p.options.seed
    # the paired interval over items of after - before, per task and for the mean (one model)
    delta_ci = paired_interval(paired_items(before, after), seed=seed)
    return {
        "before": summary(before),
        "after": summary(after),
        "delta": {name: after[name]["score"] - before[name]["score"] for name in before},
        "mean": {"before": mean(before), "after": mean(after), "delta": mean(after) - mean(before)},
        "delta_ci": delta_ci,
        # 2.8 x the item-level SE of Δ mean: 80% power at 5% two-sided, for this one model
        "mde": mde(delta_ci["mean"]["se"]),
        # percent of outputs (0-100) in the targets' format, per probe and mean, with the same
        # resamples
        "collapse": collapse(before, after, fmt, seed=seed),
        # percent of outputs that are empty or echo the prompt's cue (A:, Q:), per probe and mean
        "breakdown": breakdown(before, after, seed=seed),
        "collapse_format": {
            "labels": list(fmt.labels),
            "language": fmt.language,
            "rule": fmt.describe(),
            "scale": "percent of outputs, 0-100",
        },
        # the gold answer's mean per-token log-prob (nats) under each generative probe's prompt
        "gold_logprob": gold_logprob.summary(before, after, seed=seed),
        # per probe: items right before and wrong after (lost), the reverse (gained), with examples
        "flips": flips(before, after),
    }


def result_text(result: dict) -> str:
    """A result file's text: compact JSON on one line (a third smaller than indented, which
    keeps the committed results small; `python -m json.tool` shows it indented)."""
    return json.dumps(result, separators=(",", ":")) + "\n"


def write_samples(p: Plan, scores: Scores) -> None:
    """The run's items, packed (its "before" items shared with every run of its baseline)."""
    lines = [
        {"phase": phase, "task": task, **item}
        for phase, by_task in scores.phases()
        for task, s in by_task.items()
        for item in s["samples"]
    ]
    text = pack(lines, p.samples_path.parent, shared_folder(p.samples_path))
    atomic_write_bytes(p.samples_path, compressed(text))
