"""The gold answer's mean per-token log-probability under the very prompt a generative probe
generated from: a low-noise companion of exact match, which moves in steps of one item.

For every generate_until item lm-eval logged, one loglikelihood request (context = the rendered
few-shot prompt it generated from, demonstrations and system instruction included; continuation
= the task's target_delimiter + the gold answer, the first where a list is accepted) goes
through the same LM object, batched by lm-eval's own `loglikelihood`; the item's value is the
log-prob sum (natural log) over the continuation's tokens divided by their count, as lm-eval
tokenises the pair (`_encode_pair`). Classification probes are generative here too and are
included: the gold label's log-prob moves long before the argmax flips.

Cost: HFLM's loglikelihood batches the requests (batch size as for generation) but does not
use the shared-prefix cache (prefix_cache.py serves generation only), so each row recomputes
its demonstrations: 62 s on top of 235 s of generation for promot_mini 1-shot, 5 items per
task, smollm2-135m on a 2-core CPU (one run, 2026-12-02).
"""

from __future__ import annotations

from .targets import first_answer


def requests(out: dict) -> list:
    """(task, doc_id, Instance) for each generate_until item in lm-eval's output."""
    from lm_eval.api.instance import Instance

    found = []
    for task, samples in out.get("samples", {}).items():
        config = out["configs"][task]
        if config.get("output_type") != "generate_until":
            continue  # loglikelihood tasks already score the gold by log-prob
        delimiter = config.get("target_delimiter", " ")
        for sample in samples:
            context = sample["arguments"][0][0]
            continuation = delimiter + first_answer(sample["target"])
            found.append((task, sample["doc_id"], Instance(
                request_type="loglikelihood", doc=sample["doc"], arguments=(context, continuation), idx=0,
                metadata=(task, sample["doc_id"], 0))))
    return found


def score(lm, out: dict) -> dict:
    """task -> doc_id -> mean per-token log-prob of the gold, for `out`'s generative items.
    On the main process only (it alone has the gathered samples): with a fixed batch size
    HFLM's loglikelihood runs no collective, so the helpers need not take part."""
    found = requests(out)
    if not found:
        return {}
    results = lm.loglikelihood([instance for _, _, instance in found], disable_tqdm=True)
    values: dict = {}
    for (task, doc_id, instance), (logprob, _) in zip(found, results):
        n = continuation_length(lm, *instance.args)
        values.setdefault(task, {})[doc_id] = logprob / n if n else None
    return values


def continuation_length(lm, context: str, continuation: str) -> int:
    """How many tokens lm-eval scores for the pair (an empty context: the continuation alone)."""
    if not context:
        return len(lm.tok_encode(continuation, add_special_tokens=False))
    return len(lm._encode_pair(context, continuation)[1])


def gold_values(samples: list[dict]) -> list[float] | None:
    """The items' gold log-probs in doc order (`statistics.item_values` gives their scores), or
    None when any item lacks one (a loglikelihood task, or a result from before this metric)."""
    ordered = sorted(samples, key=lambda s: s["doc_id"])
    values = [s.get("gold_logprob") for s in ordered]
    return None if not values or any(v is None for v in values) else values


def summary(before: dict, after: dict, seed: int, iters: int = 1000) -> dict | None:
    """Per generative probe and for their mean: the gold's mean log-prob before and after, the
    change and its paired bootstrap 95% interval over items. None when no probe has values on
    both sides (a baseline cached before this metric, or no generative probe)."""
    from .statistics import paired_means

    sides = {name: (b, a) for name in before
             if (b := gold_values(before[name]["samples"])) is not None
             and (a := gold_values(after[name]["samples"])) is not None}
    return paired_means(sides, iters=iters, seed=seed) if sides else None
