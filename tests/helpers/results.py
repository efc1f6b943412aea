"""Result files for the report's tests: each test writes only the fields it is about, and
`complete` fills in the rest of what the result schema requires (the leaderboard reads nothing
that does not meet it), with neutral values: one process, nothing attached, no optional
measure, the preset's own budget and rate."""

from __future__ import annotations

import copy

from promot_bench.config import DEFAULT_PRESET
from promot_bench.store.result import problem

HASH = "0" * 64


def scores(entry: dict) -> dict:
    """A score entry with what a test left out: the `score` metric, mean of 100 items."""
    return {
        "metric": "score",
        "stderr": None,
        "n": 100,
        "aggregation": "mean",
        "higher_is_better": True,
        **entry,
    }


def delta(entry: dict, before: float | None, after: float | None) -> dict:
    """A paired interval with what a test left out: its delta from the scores, and whether it
    excludes 0."""
    value = entry.get("delta", None if before is None else after - before)
    low, high = entry["low"], entry["high"]
    return {"delta": value, "significant": low > 0 or high < 0, **entry}


def paired(before: float, after: float) -> dict:
    """A per-item measure before and after, with an interval of its change (not significant)."""
    change = after - before
    return {
        "before": before,
        "after": after,
        "delta": change,
        "ci": {"low": change - 1.0, "high": change + 1.0, "significant": False},
    }


def heldout(change: float) -> dict:
    """A held-out cross-entropy record whose mean changed by `change` (one document)."""
    return {
        **paired(2.0, 2.0 + change),
        "text": "wiki",
        "sha256": HASH,
        "tokens": 100,
        "per_document": {"before": [2.0], "after": [2.0 + change]},
    }


def target_entry(entry: dict) -> dict:
    """A target's pretrained and tuned scores completed; nothing attached where not given."""
    return {
        "attached": {"soft_prompt": False, "demonstration": ""},
        **entry,
        "pretrained": scores(entry["pretrained"]),
        "tuned": scores(entry["tuned"]),
    }


def complete(given: dict) -> dict:
    """`given` (a few fields of a result) made a whole result; every given value is kept."""
    r = copy.deepcopy(given)
    r.setdefault("schema_version", 2)
    target_task = r.get("target_task", "promot_mini_v2_nli")
    name = r.get("model", {}).get("name", "tiny")
    r["model"] = {"spec": name, "name": name, "identity": HASH, **r.get("model", {})}
    for key, value in {
        "command": "promot-bench run",
        "invoked_as": "promot-bench run",
        "created": "2026-01-01T00:00:00+00:00",
        "code": {"version": "0", "source_sha256": HASH},
        "git_commit": None,
        "versions": {},
        "machine": "test",
        "training_processes": 1,
        "training_parallel": "single",
        "suite": "v2",
        "eval_group": "promot_mini_v2",
        "shots": 1,
        "seed": 0,
        "limit": None,
        "train": "nli",
        "training": "single",
        "target_task": target_task,
        "target_tasks": [target_task],
        "tuner": "ft",
        "preset": DEFAULT_PRESET,
        "config": {},
        "data_hash": HASH,
        "suite_version": "0",
        "timings": {},
        "stages": [],
        "flips": {},
        "weights_sha256": HASH,
        "after_is_baseline": False,
        "soft_prompt_sha256": None,
        "samples": "",
    }.items():
        r.setdefault(key, value)
    r["budget"] = {
        "label": None,
        "keep_best": True,
        "batch": 8,
        "train_examples": {},
        "examples_per_stage": 0,
        "stages": [],
        **r.get("budget", {}),
    }
    if r["budget"].get("dose"):
        r["budget"]["dose"] = {
            "stage": "model",
            "steps": 0,
            "examples": 0,
            "of_steps": 0,
            "fractions": "",
            **r["budget"]["dose"],
        }
    r["target"] = target_entry(r["target"])
    if r["target"].get("per_target"):
        r["target"]["per_target"] = {
            t: target_entry(entry) for t, entry in r["target"]["per_target"].items()
        }
    for side in ("before", "after"):
        r[side] = {t: scores(entry) for t, entry in r[side].items()}
    r.setdefault("delta", {t: r["after"][t]["score"] - r["before"][t]["score"] for t in r["after"]})
    mean = r["mean"]
    r["delta_ci"] = {
        t: delta(
            entry,
            mean["before"] if t == "mean" else r["before"].get(t, {}).get("score"),
            mean["after"] if t == "mean" else r["after"].get(t, {}).get("score"),
        )
        for t, entry in r["delta_ci"].items()
    }
    attached = r.get("after_attached")
    if attached:
        attached["scores"] = {t: scores(entry) for t, entry in attached["scores"].items()}
        attached["delta_ci"] = delta(attached["delta_ci"], mean["before"], attached["mean"])
    wrong = problem(r)
    assert wrong is None, f"the test's result is not a run result: {wrong}"
    return r
