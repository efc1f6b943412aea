"""Uncertainty for the retention matrix: mean over seeds with stderr, and paired bootstrap
intervals for differences measured on the same items (after − before; tuner vs tuner).

Items are resampled with replacement, the same draw for both sides of a difference, and the
task's own aggregation recomputed (a mean, or corpus chrF/BLEU over (prediction, reference)
pairs). A difference is called significant when its 95% interval excludes 0. The standard deviation
of the same bootstrap distribution is the difference's SE, and 2.8 SEs its minimum detectable
effect (`mde`: 80% power at 5% two-sided), the smallest true change the cell could have seen.

Corpus chrF/BLEU are recomputed from each item's sufficient statistics (sacrebleu's own
per-segment n-gram counts, the ones its significance tests resample): a resample's score is
the metric of its items' summed counts, the same number `corpus_chrf`/`corpus_bleu` give on
the resampled pairs (tests/evaluate/test_statistics.py checks equality), without re-tokenizing the
items 1,000 times (that took about 20 s per run and most of the leaderboard's 5 minutes).
"""

from __future__ import annotations

import math
import random
from statistics import mean, stdev

from promot_bench.tasks import metrics

AGGREGATIONS = {
    "mean": lambda items: mean(items) if items else 0.0,
    "chrf_aggregation": metrics.chrf_aggregation,
    "bleu_aggregation": metrics.bleu_aggregation,
}


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
    """One side's items, scored on any resample of them by the task's aggregation."""

    def __init__(self, values: list, aggregation: str):
        self.values, self.aggregation = values, aggregation
        self.metric = corpus_metric(aggregation) if values else None
        if self.metric is not None:
            predictions, references = zip(*values)
            self.counts = self.metric._extract_corpus_statistics(
                list(predictions), [list(references)]
            )

    def score(self, picks: list[int]) -> float:
        if self.metric is None:
            return aggregate([self.values[i] for i in picks], self.aggregation)
        summed = [sum(column) for column in zip(*(self.counts[i] for i in picks))]
        return self.metric._compute_score_from_stats(summed).score


# z(0.975) + z(0.80): a true effect this many SEs away is seen 80% of the time at 5% two-sided
MDE_FACTOR = 2.8


def draw_deltas(sides: dict, rng: random.Random) -> tuple[dict, float]:
    """One paired resample of every task's items (the same picks for both sides of a task):
    per-task b − a, and their mean. The one item resampling every interval, SE and MDE uses."""
    deltas = {}
    for name, (a, b) in sides.items():
        picks = [rng.randrange(len(a.values)) for _ in range(len(a.values))]
        deltas[name] = b.score(picks) - a.score(picks)
    return deltas, sum(deltas.values()) / len(deltas)


def resamplers(tasks: dict) -> dict:
    return {
        name: (Resampler(a, aggregation), Resampler(b, aggregation))
        for name, (aggregation, a, b) in tasks.items()
    }


def paired_bootstrap(tasks: dict, iters: int = 1000, seed: int = 0) -> dict:
    """`tasks`: name -> (aggregation, values_a, values_b) on the same items in the same order.
    Returns per-task and mean-over-tasks {delta: b − a, low, high, significant, se}; `se` is the
    standard deviation of the bootstrap distribution (the MDE's standard error)."""
    rng = random.Random(seed)
    draws: dict[str, list[float]] = {name: [] for name in tasks}
    draws["mean"] = []
    sides = resamplers(tasks)
    for _ in range(iters):
        deltas, mean_delta = draw_deltas(sides, rng)
        for name, delta in deltas.items():
            draws[name].append(delta)
        draws["mean"].append(mean_delta)
    observed = {name: aggregate(b, agg) - aggregate(a, agg) for name, (agg, a, b) in tasks.items()}
    observed["mean"] = sum(observed.values()) / len(tasks)
    out = {}
    for name, values in draws.items():
        se = stdev(values) if iters > 1 else None
        values.sort()
        low, high = values[int(0.025 * iters)], values[min(iters - 1, int(0.975 * iters))]
        out[name] = {
            "delta": observed[name],
            "low": low,
            "high": high,
            "significant": low > 0 or high < 0,
            "se": se,
        }
    return out


def paired_means(sides: dict, iters: int = 1000, seed: int = 0) -> dict:
    """`sides`: name -> (per-item values before, after), mean-aggregated. Per name and for the
    mean over names: {before, after, delta, ci: {low, high, significant}}, by `paired_bootstrap`
    (the same seed, names and item counts as a run's delta_ci give the very same resamples)."""
    ci = paired_bootstrap(
        {name: ("mean", b, a) for name, (b, a) in sides.items()}, iters=iters, seed=seed
    )
    out = {
        name: {"before": sum(b) / len(b) if b else 0.0, "after": sum(a) / len(a) if a else 0.0}
        for name, (b, a) in sides.items()
    }
    out["mean"] = {
        side: sum(v[side] for v in out.values()) / len(out) for side in ("before", "after")
    }
    for name, entry in out.items():
        entry["delta"] = ci[name]["delta"]
        entry["ci"] = {
            "low": ci[name]["low"],
            "high": ci[name]["high"],
            "significant": ci[name]["significant"],
        }
    return out


def mde(se: float | None) -> float | None:
    """The minimum detectable effect (80% power, 5% two-sided) of a difference with this SE."""
    return None if se is None else MDE_FACTOR * se


def seed_mean_se(runs: list[dict], iters: int = 1000, seed: int = 0) -> float | None:
    """The SE of the seed mean of Δ mean, seeds and items both resampled: each draw picks the
    seeds with replacement, then resamples each picked run's items (`draw_deltas`) and averages
    their Δ means. `runs`: one `tasks` dict per seed, as `paired_bootstrap` takes."""
    if not runs or iters < 2:
        return None
    rng = random.Random(seed)
    sides = [resamplers(tasks) for tasks in runs]
    draws = []
    for _ in range(iters):
        picked = [sides[rng.randrange(len(sides))] for _ in sides]
        draws.append(sum(draw_deltas(s, rng)[1] for s in picked) / len(picked))
    return stdev(draws)


def bootstrap_stderr(
    values: list, aggregation: str, iters: int = 1000, seed: int = 0
) -> float | None:
    """The standard error of one side's score by the same resampling of items (for corpus
    chrF/BLEU, which lm-eval reports without one); None for fewer than 2 items."""
    if len(values) < 2:
        return None
    rng = random.Random(seed)
    side = Resampler(values, aggregation)
    return stdev([side.score([rng.randrange(len(values)) for _ in values]) for _ in range(iters)])


def mean_stderr(values: list[float]) -> tuple[float, float | None]:
    """Mean over seeds and its standard error (None for a single seed)."""
    if len(values) < 2:
        return values[0], None
    return mean(values), stdev(values) / math.sqrt(len(values))
