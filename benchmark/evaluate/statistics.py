"""Item-level uncertainty of one trained model: paired intervals for differences measured on the
same items (after − before; tuner vs tuner on one seed) and the standard error of one score.

These describe one run, a single trained model: the items are the sample. A claim about a
*tuner* is a claim over seeds, and its statistics are `seed_statistics`'s.

- Tasks aggregated by a mean (exact match, accuracy; the collapse and gold log-prob rates) get
  the analytic paired interval: per task the mean of the per-item differences, its standard
  error s/√n, and for the mean over tasks SE = √(Σ SE_t²) / T; the interval is ±1.96 SE. It is
  what a bootstrap of the items estimates, without the bootstrap's own random seed, so a star
  can never flip between reruns.
- Corpus metrics (chrF, BLEU), which have no per-item form, are bootstrapped: the items are
  resampled with replacement (the same draw for both sides) and the metric recomputed from the
  items' sufficient statistics (sacrebleu's own per-segment n-gram counts, the ones its
  significance tests resample). A resample's score is the metric of its items' summed counts,
  the same number `corpus_chrf`/`corpus_bleu` give on the resampled pairs (tested), without
  re-tokenizing the items each time. When any task of a mean is a corpus metric, every task of
  it is resampled that way, so the mean's draws are joint.

A difference is significant when its 95% interval excludes 0; 2.8 SE is its minimum detectable
effect (`mde`: 80% power at 5% two-sided, the large-sample factor, right for hundreds of items).
"""

from __future__ import annotations

import math

import numpy as np

from promot_bench.tasks import metrics

AGGREGATIONS = {
    "mean": lambda items: float(np.mean(items)) if len(items) else 0.0,
    "chrf_aggregation": metrics.chrf_aggregation,
    "bleu_aggregation": metrics.bleu_aggregation,
}

# z(0.975) + z(0.80): a true effect this many SEs away is seen 80% of the time at 5% two-sided
MDE_FACTOR = 2.8
Z_95 = 1.959963984540054
# Resamples for corpus metrics: enough that the interval's ends move by under 2% of its width
# between bootstrap seeds (tests/evaluate/test_statistics.py).
BOOTSTRAP_ITERS = 10_000


def item_values(samples: list[dict]) -> list:
    """Per-item values in doc order: the score, or the (prediction, reference) pair."""
    ordered = sorted(samples, key=lambda s: s["doc_id"])
    return [tuple(s["pair"]) if s.get("pair") is not None else s["score"] for s in ordered]


def aggregate(values: list, aggregation: str) -> float:
    return AGGREGATIONS[aggregation](values)


def corpus_metric(aggregation: str):
    """The sacrebleu metric behind a corpus aggregation, configured as `tasks/metrics.py`
    calls it (sacrebleu's defaults); None for per-item means."""
    import sacrebleu

    return {
        "chrf_aggregation": sacrebleu.metrics.CHRF,
        "bleu_aggregation": sacrebleu.metrics.BLEU,
    }.get(aggregation, lambda: None)()


class Resampler:
    """One side's items, scored on resamples of them by the task's aggregation."""

    def __init__(self, values: list, aggregation: str):
        self.aggregation = aggregation
        self.metric = corpus_metric(aggregation) if values else None
        if self.metric is None:
            self.values = np.asarray(values, dtype=float)
        else:
            predictions, references = zip(*values)
            self.counts = np.asarray(
                self.metric._extract_corpus_statistics(list(predictions), [list(references)]),
                dtype=np.int64,
            )

    def score(self, picks) -> float:
        """The aggregation over the items at `picks` (indices, repeats allowed)."""
        return float(self.scores(np.asarray(picks)[None, :])[0])

    def scores(self, picks: np.ndarray) -> np.ndarray:
        """One score per row of `picks` (resamples × items)."""
        if self.metric is None:
            return self.values[picks].mean(axis=1)
        # in chunks: the picked counts of 10,000 resamples at once would take gigabytes
        summed = np.concatenate(
            [
                self.counts[chunk].sum(axis=1)
                for chunk in np.array_split(picks, -(-len(picks) // 256))
            ]
        )
        return np.array(
            [self.metric._compute_score_from_stats(row.tolist()).score for row in summed]
        )


def _interval(delta: float, se: float) -> dict:
    low, high = delta - Z_95 * se, delta + Z_95 * se
    return {"delta": delta, "low": low, "high": high, "significant": low > 0 or high < 0, "se": se}


def _mean_se(differences: np.ndarray) -> float:
    n = len(differences)
    return float(np.std(differences, ddof=1) / math.sqrt(n)) if n > 1 else 0.0


def paired_interval(tasks: dict, seed: int = 0, iters: int = BOOTSTRAP_ITERS) -> dict:
    """`tasks`: name -> (aggregation, values_a, values_b) on the same items in the same order.
    Per task and for the mean over tasks: {delta: b − a, low, high, significant, se, method},
    the 95% interval analytic ("normal") when every task is mean-aggregated, else bootstrapped
    ("bootstrap", `iters` joint resamples from `seed`)."""
    if all(agg == "mean" for agg, _, _ in tasks.values()):
        out = {}
        for name, (_, a, b) in tasks.items():
            d = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
            out[name] = _interval(float(d.mean()) if len(d) else 0.0, _mean_se(d))
        ses = [entry["se"] for entry in out.values()]
        delta = sum(entry["delta"] for entry in out.values()) / len(out)
        out["mean"] = _interval(delta, math.sqrt(sum(s * s for s in ses)) / len(out))
        return {name: {**entry, "method": "normal"} for name, entry in out.items()}
    return _bootstrap(tasks, seed, iters)


def _bootstrap(tasks: dict, seed: int, iters: int) -> dict:
    rng = np.random.default_rng(seed)
    draws = {}
    for name, (aggregation, a, b) in tasks.items():
        picks = rng.integers(0, len(a), size=(iters, len(a)))
        draws[name] = Resampler(b, aggregation).scores(picks) - Resampler(a, aggregation).scores(
            picks
        )
    draws["mean"] = np.mean([draws[name] for name in tasks], axis=0)
    observed = {name: aggregate(b, agg) - aggregate(a, agg) for name, (agg, a, b) in tasks.items()}
    observed["mean"] = sum(observed.values()) / len(tasks)
    out = {}
    for name, values in draws.items():
        low, high = np.quantile(values, [0.025, 0.975])
        out[name] = {
            "delta": observed[name],
            "low": float(low),
            "high": float(high),
            "significant": bool(low > 0 or high < 0),
            "se": float(np.std(values, ddof=1)),
            "method": "bootstrap",
        }
    return out


def paired_means(sides: dict, seed: int = 0) -> dict:
    """`sides`: name -> (per-item values before, after), mean-aggregated. Per name and for the
    mean over names: {before, after, delta, ci: {low, high, significant}}."""
    ci = paired_interval({name: ("mean", b, a) for name, (b, a) in sides.items()}, seed=seed)
    out = {
        name: {"before": float(np.mean(b)) if b else 0.0, "after": float(np.mean(a)) if a else 0.0}
        for name, (b, a) in sides.items()
    }
    out["mean"] = {
        side: sum(v[side] for v in out.values()) / len(out) for side in ("before", "after")
    }
    for name, entry in out.items():
        entry["delta"] = ci[name]["delta"]
        entry["ci"] = {k: ci[name][k] for k in ("low", "high", "significant")}
    return out


def mde(se: float | None) -> float | None:
    """The minimum detectable effect (80% power, 5% two-sided) of an item-level difference."""
    return None if se is None else MDE_FACTOR * se


def item_stderr(
    values: list, aggregation: str, seed: int = 0, iters: int = BOOTSTRAP_ITERS
) -> float | None:
    """The standard error of one side's score over its items: s/√n for a mean, the bootstrap's
    for corpus chrF/BLEU (which lm-eval reports without one); None for fewer than 2 items."""
    if len(values) < 2:
        return None
    if aggregation == "mean":
        return _mean_se(np.asarray(values, dtype=float))
    picks = np.random.default_rng(seed).integers(0, len(values), size=(iters, len(values)))
    return float(np.std(Resampler(values, aggregation).scores(picks), ddof=1))


def mean_stderr(values: list[float]) -> tuple[float, float | None]:
    """Mean over seeds and its standard error (None for a single seed)."""
    if len(values) < 2:
        return values[0], None
    return float(np.mean(values)), _mean_se(np.asarray(values, dtype=float))
