"""Paired bootstrap intervals and seed statistics."""

import pytest

from promot_bench.evaluate import statistics
from promot_bench.tasks import metrics


def test_identical_sides_give_a_zero_interval():
    values = [0, 100, 100, 0, 100]
    out = statistics.paired_bootstrap({"t": ("mean", values, values)}, iters=200)
    assert out["t"] == {"delta": 0.0, "low": 0.0, "high": 0.0, "significant": False, "se": 0.0}


def test_a_clear_drop_is_significant_and_noise_is_not():
    before = [100] * 50 + [0] * 50
    after = [0] * 50 + [0] * 50  # every correct item lost
    out = statistics.paired_bootstrap({"t": ("mean", before, after)}, iters=500)
    assert out["t"]["delta"] == -50 and out["t"]["significant"] and out["t"]["high"] < 0
    flipped = [0, 100] * 50
    noisy = statistics.paired_bootstrap({"t": ("mean", [100, 0] * 50, flipped)}, iters=500)
    assert noisy["t"]["delta"] == 0 and not noisy["t"]["significant"]


def test_corpus_metrics_are_recomputed_on_each_resample():
    a = [("Katalanisch", "Katalanisch"), ("Englisch", "Englisch"), ("x", "Kru-Sprachen")]
    b = [("", "Katalanisch"), ("", "Englisch"), ("", "Kru-Sprachen")]
    out = statistics.paired_bootstrap(
        {"t": ("chrf_aggregation", a, b), "u": ("mean", [1, 1, 1], [1, 1, 1])}, iters=100
    )
    assert out["t"]["delta"] == pytest.approx(
        metrics.chrf_aggregation(b) - metrics.chrf_aggregation(a)
    )
    assert out["mean"]["delta"] == pytest.approx(out["t"]["delta"] / 2)


@pytest.mark.parametrize("aggregation", ["chrf_aggregation", "bleu_aggregation"])
def test_a_resample_scored_from_summed_counts_equals_the_metric_recomputed(aggregation):
    """The bootstrap scores corpus metrics from per-item counts: on any resample (repeats,
    empty outputs, a single item) that must be exactly the metric over the resampled pairs."""
    import random

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


def test_mde_is_2_8_standard_deviations_of_the_bootstrapped_delta_mean():
    """Recomputed by hand with the same draws: per resample one pick list per task (in task
    order, a pick per item), Δ of each task's mean on it, then their mean."""
    import random
    from statistics import stdev

    a = {"t": [100, 0, 100, 100, 0, 0, 100, 0], "u": [0, 0, 100, 0, 100, 0]}
    b = {"t": [0, 0, 100, 0, 0, 100, 100, 0], "u": [100, 0, 100, 100, 100, 0]}
    out = statistics.paired_bootstrap({k: ("mean", a[k], b[k]) for k in a}, iters=300, seed=7)
    rng, draws = random.Random(7), []
    for _ in range(300):
        deltas = []
        for k in a:
            picks = [rng.randrange(len(a[k])) for _ in a[k]]
            deltas.append(
                sum(b[k][i] for i in picks) / len(picks) - sum(a[k][i] for i in picks) / len(picks)
            )
        draws.append(sum(deltas) / len(deltas))
    assert out["mean"]["se"] == stdev(draws)
    assert statistics.mde(out["mean"]["se"]) == 2.8 * stdev(draws)
    assert statistics.mde(None) is None


def test_seed_mean_se_resamples_seeds_and_items():
    same = {"t": ("mean", [100, 0] * 5, [0, 100] * 5)}
    # one seed: only items vary; identical seeds add nothing beyond the item noise
    one = statistics.seed_mean_se([same], iters=200, seed=0)
    assert one == pytest.approx(
        statistics.paired_bootstrap(same, iters=200, seed=0)["mean"]["se"], rel=0.5
    )
    constant = [{"t": ("mean", [50] * 10, [50 + shift] * 10)} for shift in (0, 10)]
    # items carry no noise here, so the SE is the seed resampling's alone: half the time both
    # picks agree (0 or 10), else 5; sd of {0, 10, 5, 5} weighted 1/4, 1/4, 1/2 = sqrt(12.5)
    assert statistics.seed_mean_se(constant, iters=4000, seed=0) == pytest.approx(
        12.5**0.5, rel=0.1
    )
    assert statistics.seed_mean_se([], iters=10) is None


def test_mean_stderr():
    assert statistics.mean_stderr([5.0]) == (5.0, None)
    m, se = statistics.mean_stderr([1.0, 2.0, 3.0])
    assert m == 2.0 and se == pytest.approx(1 / 3**0.5)
