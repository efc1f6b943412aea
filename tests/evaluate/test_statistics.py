"""Item-level paired intervals (one trained model): analytic for means, bootstrapped for corpus
metrics."""

import math
import random

import numpy as np
import pytest

from promot_bench.evaluate import statistics
from promot_bench.tasks import metrics


def test_identical_sides_give_a_zero_interval():
    values = [0, 100, 100, 0, 100]
    out = statistics.paired_interval({"t": ("mean", values, values)})
    assert out["t"] == {
        "delta": 0.0,
        "low": 0.0,
        "high": 0.0,
        "significant": False,
        "se": 0.0,
        "method": "normal",
    }


def test_a_clear_drop_is_significant_and_noise_is_not():
    before = [100] * 50 + [0] * 50
    after = [0] * 100  # every correct item lost
    out = statistics.paired_interval({"t": ("mean", before, after)})
    assert out["t"]["delta"] == -50 and out["t"]["significant"] and out["t"]["high"] < 0
    noisy = statistics.paired_interval({"t": ("mean", [100, 0] * 50, [0, 100] * 50)})
    assert noisy["t"]["delta"] == 0 and not noisy["t"]["significant"]


def test_the_analytic_interval_is_the_paired_differences_standard_error_by_hand():
    a = {"t": [100, 0, 100, 100, 0, 0, 100, 0], "u": [0, 0, 100, 0, 100, 0]}
    b = {"t": [0, 0, 100, 0, 0, 100, 100, 0], "u": [100, 0, 100, 100, 100, 0]}
    out = statistics.paired_interval({k: ("mean", a[k], b[k]) for k in a})
    ses = {}
    for k in a:
        d = [y - x for x, y in zip(a[k], b[k])]
        m = sum(d) / len(d)
        ses[k] = math.sqrt(sum((v - m) ** 2 for v in d) / (len(d) - 1) / len(d))
        assert out[k]["delta"] == pytest.approx(m) and out[k]["se"] == pytest.approx(ses[k])
    se_mean = math.sqrt(ses["t"] ** 2 + ses["u"] ** 2) / 2
    assert out["mean"]["se"] == pytest.approx(se_mean)
    assert out["mean"]["low"] == pytest.approx(out["mean"]["delta"] - 1.959964 * se_mean)
    assert statistics.mde(out["mean"]["se"]) == pytest.approx(2.8 * se_mean)
    assert statistics.mde(None) is None


def test_the_analytic_interval_agrees_with_a_bootstrap_of_the_items():
    """What the normal form replaces: a plain percentile bootstrap of the same paired items."""
    rng = random.Random(3)
    a = [100 * (rng.random() < 0.6) for _ in range(300)]
    b = [x if rng.random() < 0.8 else 100 - x for x in a]
    out = statistics.paired_interval({"t": ("mean", a, b)})["t"]
    d = np.array(b, float) - np.array(a, float)
    picks = np.random.default_rng(0).integers(0, len(d), size=(20_000, len(d)))
    draws = d[picks].mean(axis=1)
    assert out["se"] == pytest.approx(draws.std(ddof=1), rel=0.03)
    low, high = np.quantile(draws, [0.025, 0.975])
    assert out["low"] == pytest.approx(low, abs=0.3) and out["high"] == pytest.approx(high, abs=0.3)


def test_corpus_metrics_are_recomputed_on_each_resample():
    a = [("Katalanisch", "Katalanisch"), ("Englisch", "Englisch"), ("x", "Kru-Sprachen")]
    b = [("", "Katalanisch"), ("", "Englisch"), ("", "Kru-Sprachen")]
    out = statistics.paired_interval(
        {"t": ("chrf_aggregation", a, b), "u": ("mean", [1, 1, 1], [1, 1, 1])}, iters=200
    )
    assert out["t"]["method"] == out["mean"]["method"] == "bootstrap"
    assert out["t"]["delta"] == pytest.approx(
        metrics.chrf_aggregation(b) - metrics.chrf_aggregation(a)
    )
    assert out["mean"]["delta"] == pytest.approx(out["t"]["delta"] / 2)
    assert out["t"]["low"] < out["t"]["high"] <= 0  # a resample of only item 3 loses nothing


def test_a_corpus_interval_does_not_move_with_the_bootstrap_seed():
    """10,000 resamples: reruns with other seeds give the same interval to within 2% of its
    width (so a star a corpus interval carries does not flip with the bootstrap's seed)."""
    rng = random.Random(0)
    words = ["chat", "chien", "maison", "voiture", "arbre", "soleil", "lune", "fleur"]
    refs = [" ".join(rng.sample(words, 3)) for _ in range(60)]
    a = [(" ".join(rng.sample(words, 3)), r) for r in refs]
    b = [(r if rng.random() < 0.4 else p, r) for (p, r) in a]
    ends = [
        statistics.paired_interval({"t": ("chrf_aggregation", a, b)}, seed=seed)["t"]
        for seed in range(4)
    ]
    width = ends[0]["high"] - ends[0]["low"]
    for e in ends[1:]:
        assert abs(e["low"] - ends[0]["low"]) < 0.02 * width
        assert abs(e["high"] - ends[0]["high"]) < 0.02 * width


@pytest.mark.parametrize("aggregation", ["chrf_aggregation", "bleu_aggregation"])
def test_a_resample_scored_from_summed_counts_equals_the_metric_recomputed(aggregation):
    """The bootstrap scores corpus metrics from per-item counts: on any resample (repeats,
    empty outputs, a single item) that must be exactly the metric over the resampled pairs."""
    references = [
        "Die Katze sitzt auf der Matte.",
        "Ich habe heute keine Zeit.",
        "Englisch",
        "Kru-Sprachen",
        "Das Wetter ist schön, nicht wahr?",
        "Wir fahren morgen nach Berlin.",
    ]
    predictions = [
        "Die Katze sitzt auf Matte.",
        "",
        "Englisch",
        "Kru Sprachen sind",
        "Le temps est beau.",
        "Wir fahren nach Berlin morgen.",
    ]
    pairs = list(zip(predictions, references))
    side = statistics.Resampler(pairs, aggregation)
    recompute = statistics.AGGREGATIONS[aggregation]
    rng = random.Random(0)
    draws = [list(range(len(pairs))), [1], [1, 1, 1]] + [
        [rng.randrange(len(pairs)) for _ in pairs] for _ in range(30)
    ]
    scores = [side.score(picks) for picks in draws]
    assert scores == [recompute([pairs[i] for i in picks]) for picks in draws]
    assert len(set(scores)) > 5  # the resamples really differ


def test_item_values_use_pairs_for_corpus_metrics_in_doc_order():
    samples = [
        {"doc_id": 1, "score": None, "pair": ["b", "B"]},
        {"doc_id": 0, "score": None, "pair": ["a", "A"]},
    ]
    assert statistics.item_values(samples) == [("a", "A"), ("b", "B")]


def test_item_stderr_is_the_formula_for_means_and_the_bootstrap_for_corpus_metrics():
    values = [100, 0, 0, 100, 100, 0, 100, 100, 0, 0, 100]
    n, m = len(values), sum(values) / len(values)
    formula = math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1) / n)
    assert statistics.item_stderr(values, "mean") == pytest.approx(formula)
    assert statistics.item_stderr([1.0], "mean") is None
    pairs = [("chat noir", "chat noir"), ("", "chien"), ("maison", "maisons")] * 10
    se = statistics.item_stderr(pairs, "chrf_aggregation", iters=2000)
    assert 0 < se < statistics.item_stderr(pairs[:6], "chrf_aggregation", iters=2000)


def test_mean_stderr():
    assert statistics.mean_stderr([5.0]) == (5.0, None)
    m, se = statistics.mean_stderr([1.0, 2.0, 3.0])
    assert m == 2.0 and se == pytest.approx(1 / 3**0.5)
