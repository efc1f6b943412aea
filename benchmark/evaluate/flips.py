"""Per-item flips: which items a tuner changed, probe by probe, between the pretrained model's
outputs and the tuned model's (prompt stripped) on the same items.

For probes scored right/wrong per item (exact match, classification: every item's score is 0
or the probe's top value) the counts are exact: `lost` = right before and wrong after,
`gained` = wrong before and right after, `unchanged` the rest. For graded probes (ROUGE per
item; chrF/BLEU, whose items carry (prediction, reference) pairs and are scored here with the
metric's own sentence-level score) `lost`/`gained` count the items whose own score fell/rose.
`examples` holds up to EXAMPLES items, lost ones first (for graded probes the largest falls),
then gained ones: the end of the prompt, the gold answer and both outputs.
"""

from __future__ import annotations

from promot_bench.evaluate.samples import by_phase
from promot_bench.evaluate.statistics import corpus_metric

EXAMPLES = 5
# characters of the prompt's end kept in an example: the item, not its demonstrations
PROMPT_TAIL = 160


def item_scores(samples: list[dict], aggregation: str) -> dict:
    """doc_id -> the item's own score (a sentence-level chrF/BLEU for corpus metrics)."""
    metric = None
    scores = {}
    for s in samples:
        if s.get("pair") is not None:
            metric = metric or corpus_metric(aggregation)
            prediction, reference = s["pair"]
            scores[s["doc_id"]] = metric.sentence_score(prediction, [reference]).score
        else:
            scores[s["doc_id"]] = float(s["score"])
    return scores


def example(before: dict, after: dict, b: float, a: float) -> dict:
    prompt = before.get("prompt") or ""
    return {
        "doc_id": before["doc_id"],
        "prompt_end": prompt[-PROMPT_TAIL:],
        "gold": before.get("gold"),
        "before": before.get("output"),
        "after": after.get("output"),
        "score_before": b,
        "score_after": a,
    }


def task_flips(before: list[dict], after: list[dict], aggregation: str = "mean") -> dict:
    """One probe's flips, its items paired by doc_id (items on one side only are left out)."""
    b_scores, a_scores = item_scores(before, aggregation), item_scores(after, aggregation)
    ids = sorted(set(b_scores) & set(a_scores))
    values = {b_scores[i] for i in ids} | {a_scores[i] for i in ids}
    top = max(values, default=0.0)
    binary = bool(ids) and values <= {0.0, top} and all(s.get("pair") is None for s in before)
    lost = [i for i in ids if a_scores[i] < b_scores[i]]
    gained = [i for i in ids if a_scores[i] > b_scores[i]]
    # largest changes first; doc order breaks ties, so the choice is deterministic
    lost.sort(key=lambda i: (a_scores[i] - b_scores[i], i))
    gained.sort(key=lambda i: (b_scores[i] - a_scores[i], i))
    by_id_before = {s["doc_id"]: s for s in before}
    by_id_after = {s["doc_id"]: s for s in after}
    shown = (lost + gained)[:EXAMPLES]
    entry = {
        "kind": "right/wrong" if binary else "item score",
        "n": len(ids),
        "lost": len(lost),
        "gained": len(gained),
        "unchanged": len(ids) - len(lost) - len(gained),
        "examples": [
            example(by_id_before[i], by_id_after[i], b_scores[i], a_scores[i]) for i in shown
        ],
    }
    if binary:
        entry["right_both"] = sum(1 for i in ids if b_scores[i] == top == a_scores[i])
    return entry


def flips(before: dict, after: dict) -> dict:
    """Per probe (the eval tasks' score dicts, each with its samples) and the totals over probes."""
    per_task = {
        name: task_flips(
            before[name]["samples"],
            after[name]["samples"],
            before[name].get("aggregation") or "mean",
        )
        for name in before
        if name in after
    }
    total = {
        key: sum(entry[key] for entry in per_task.values())
        for key in ("n", "lost", "gained", "unchanged")
    }
    return {**per_task, "total": total}


def from_samples_file(path: str, aggregations: dict) -> dict:
    """`flips` re-derived from a run's samples file (for results written before flips were
    recorded); `aggregations`: task -> its aggregation, as the result's "before" records it."""
    phases = by_phase(path)
    return flips(
        {
            t: {"samples": s, "aggregation": aggregations.get(t)}
            for t, s in phases.get("before", {}).items()
        },
        {t: {"samples": s} for t, s in phases.get("after", {}).items()},
    )
