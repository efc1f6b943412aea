"""The gold answer's mean per-token log-probability under the very prompt a generative probe
generated from: a low-noise companion of exact match, which moves in steps of one item.

For every generate_until item lm-eval logged, one loglikelihood request (context = the rendered
few-shot prompt it generated from, demonstrations and system instruction included; continuation
= the task's target_delimiter + the gold answer, the first where a list is accepted) goes
through the same LM object, batched by lm-eval's own `loglikelihood`; the item's value is the
log-prob sum (natural log) over the continuation's tokens divided by their count, as lm-eval
tokenises the pair (`_encode_pair`). Classification probes are generative here too and are
included: the gold label's log-prob moves long before the argmax flips.

Cost: where the LM has a shared-prefix cache (prefix_cache.py: decoder-only models), each
task's items are scored in batches after a copy of their shared beginning's cache, the pass
generation's prefills make (refill.prefill_pass), so only each item's own tokens and its gold
are computed; elsewhere (seq2seq, an "auto" batch size, an item longer than the window) HFLM's
own `loglikelihood` scores them, recomputing the demonstrations of every item. Both take the
token split lm-eval's `_encode_pair` makes, so they agree up to the order of float sums
(tests/evaluate/test_gold_logprob.py). Measured: benchmark/perf/README.md.

With a `reference` (the pretrained model, in the "after" pass of a tuned one), the same batches
also give each item's KL divergence from the pretrained model to the tuned one, KL(p_pre ||
p_tuned) over the next-token distributions at the gold answer's positions, averaged over them
(nats): the divergence RL's Razor (2025) finds to predict forgetting, on the probes' own
prompts. The reference runs the same rows through its own shared-prefix cache; items the cached
path cannot take have no KL (None).
"""

from __future__ import annotations

from promot_bench.evaluate.prefix_cache import PrefixCache
from promot_bench.evaluate.refill import common_prefix, prefill_pass
from promot_bench.evaluate.statistics import paired_means
from promot_bench.train.task_data import first_answer


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
            found.append(
                (
                    task,
                    sample["doc_id"],
                    Instance(
                        request_type="loglikelihood",
                        doc=sample["doc"],
                        arguments=(context, continuation),
                        idx=0,
                        metadata=(task, sample["doc_id"], 0),
                    ),
                )
            )
    return found


def score(lm, out: dict, reference=None) -> tuple[dict, dict]:
    """(task -> doc_id -> mean per-token log-prob of the gold, task -> doc_id -> KL from the
    `reference` model — empty without one), for `out`'s generative items. On the main process
    only (it alone has the gathered samples): with a fixed batch size neither path runs a
    collective, so the helpers need not take part."""
    found = requests(out)
    if not found:
        return {}, {}
    pairs = [
        lm._encode_pair(*instance.args) if instance.args[0] else None for _, _, instance in found
    ]
    cached = [i for i, pair in enumerate(pairs) if pair is not None and fits_cached(lm, pair)]
    phase = lm.phase("gold log-probs", len(cached)) if hasattr(lm, "phase") else None
    scored, divergences = cached_logprobs(
        lm,
        [found[i][0] for i in cached],
        [pairs[i] for i in cached],
        phase.update if phase else None,
        PrefixCache(reference) if reference is not None else None,
    )
    if phase is not None:
        phase.close()
    sums = dict(zip(cached, scored))
    kl: dict = {}
    for i, value in zip(cached, divergences or []):
        kl.setdefault(found[i][0], {})[found[i][1]] = value
    rest = [i for i in range(len(found)) if i not in sums]
    if rest:
        results = lm.loglikelihood([found[i][2] for i in rest], disable_tqdm=True)
        sums.update((i, logprob) for i, (logprob, _) in zip(rest, results))
    values: dict = {}
    for i, (task, doc_id, instance) in enumerate(found):
        n = len(pairs[i][1]) if pairs[i] is not None else continuation_length(lm, *instance.args)
        values.setdefault(task, {})[doc_id] = sums[i] / n if n else None
    return values, kl


def fits_cached(lm, pair: tuple) -> bool:
    """Whether the pair can go through the shared-prefix path: the LM has the cache, a fixed
    batch size, and the pair fits the window untruncated (lm-eval would cut it from the left)."""
    context, continuation = pair
    return (
        getattr(lm, "prefix_cache", None) is not None
        and lm.batch_size != "auto"
        and bool(continuation)
        and len(context) + len(continuation) <= lm.max_length + 1
    )


def cached_logprobs(
    lm, tasks: list[str], pairs: list[tuple], done=None, reference=None
) -> tuple[list[float], list[float] | None]:
    """Each (context tokens, continuation tokens) pair's continuation log-prob sum, as lm-eval's
    `_loglikelihood_tokens` computes it (input = both joined, less the last token), batched per
    task after a copy of the beginning the task's inputs share; `done(n)` is told of each batch.
    With a `reference` (a PrefixCache of another model), each pair's mean KL from the reference's
    next-token distributions to the LM's at the continuation's positions (else None)."""
    import torch

    sums = [0.0] * len(pairs)
    kls = [0.0] * len(pairs) if reference is not None else None
    by_task: dict[str, list[int]] = {}
    for i, task in enumerate(tasks):
        by_task.setdefault(task, []).append(i)
    size = int(lm.batch_size)
    with torch.no_grad(), lm._autocast():
        for indices in by_task.values():
            rows = {i: (pairs[i][0] + pairs[i][1])[:-1] for i in indices}
            # The logits needed start at each context's last token: the shared part ends before.
            shared = min(
                common_prefix(list(rows.values())), *(len(pairs[i][0]) - 1 for i in indices)
            )
            ordered = sorted(indices, key=lambda i: (-len(rows[i]), i))
            for start in range(0, len(ordered), size):
                batch = ordered[start : start + size]
                keep = max(len(pairs[i][1]) for i in batch)
                inputs = (rows[batch[0]][:shared], [rows[i][shared:] for i in batch], keep)
                out, _ = prefill_pass(lm.model, lm.prefix_cache, *inputs)
                logprobs = out.logits.float().log_softmax(-1)
                if reference is not None:
                    base, _ = prefill_pass(reference.model, reference, *inputs)
                    base_logprobs = base.logits.float().log_softmax(-1)
                for row, i in enumerate(batch):
                    gold = torch.tensor(pairs[i][1], device=logprobs.device)
                    at = slice(keep - len(gold), keep)
                    sums[i] = float(logprobs[row, at].gather(1, gold[:, None]).sum())
                    if kls is not None:
                        kls[i] = kl_mean(base_logprobs[row, at], logprobs[row, at])
                if done is not None:
                    done(len(batch))
    return sums, kls


def kl_mean(reference, tuned) -> float:
    """Mean over positions of KL(reference || tuned), both given as log-probs [positions, vocab]."""
    return float((reference.exp() * (reference - tuned)).sum(-1).mean())


def continuation_length(lm, context: str, continuation: str) -> int:
    """How many tokens lm-eval scores for the pair (an empty context: the continuation alone)."""
    if not context:
        return len(lm.tok_encode(continuation, add_special_tokens=False))
    return len(lm._encode_pair(context, continuation)[1])


def gold_values(samples: list[dict], key: str = "gold_logprob") -> list[float] | None:
    """The items' gold log-probs (or another per-item value, `key`) in doc order
    (`statistics.item_values` gives their scores), or None when any item lacks one (a
    loglikelihood task, or a result from before the value was recorded)."""
    ordered = sorted(samples, key=lambda s: s["doc_id"])
    values = [s.get(key) for s in ordered]
    return None if not values or any(v is None for v in values) else values


def summary(before: dict, after: dict, seed: int) -> dict | None:
    """Per generative probe and for their mean: the gold's mean log-prob before and after, the
    change and its paired 95% interval over items. None when no probe has values on
    both sides (a baseline cached before this metric, or no generative probe)."""
    sides = {
        name: (b, a)
        for name in before
        if (b := gold_values(before[name]["samples"])) is not None
        and (a := gold_values(after[name]["samples"])) is not None
    }
    return paired_means(sides, seed=seed) if sides else None


def kl_summary(after: dict, seed: int = 0, unchanged: bool = False) -> dict | None:
    """Per generative probe and for their mean: the items' mean KL from the pretrained model
    (before tuning it is 0: the model is the pretrained one) and the 95% interval of that mean
    over items, in `paired_means`' form. Weights left `unchanged` (pt): 0 for every item. None
    where no probe has values (no reference was given)."""
    sides = {}
    for name, scores in after.items():
        values = gold_values(scores["samples"], "gold_logprob" if unchanged else "kl")
        if values:
            zeros = [0.0] * len(values)
            sides[name] = (zeros, zeros if unchanged else values)
    return paired_means(sides, seed=seed) if sides else None
