"""The forgetting measures against Δ in-context mean (report/forgetting.py): scipy's Pearson r
per model and probes, shown only with enough results, and on both pages."""

import pytest

from promot_bench.report import forgetting
from promot_bench.store.result import LoadedResult


def result(delta: float, kl=None, held=None, model="m", group="g") -> dict:
    r = {"model": {"name": model}, "eval_group": group, "shots": 1, "mean": {"delta": delta}}
    if kl is not None:
        r["kl"] = {"mean": {"before": 0.0, "after": kl, "delta": kl}}
    if held is not None:
        r["heldout_ce"] = {"delta": held}
    return LoadedResult(r)


def test_pearson_r_per_model_and_probes_with_its_interval():
    from scipy import stats

    deltas, kls = [-1.0, -3.0, -2.0, -6.0, -5.0], [0.1, 0.3, 0.25, 0.5, 0.45]
    runs = [result(d, k) for d, k in zip(deltas, kls)] + [result(-1.0, 0.2, model="other")]
    found = forgetting.correlations(runs)
    ours = next(c for c in found if c.where.startswith("m ·"))
    expected = stats.pearsonr(deltas, kls)
    assert ours.n == 5 and ours.r == pytest.approx(expected.statistic) and ours.r < -0.9
    assert ours.low < ours.r < ours.high and ours.p == pytest.approx(expected.pvalue)
    # the other model: one result, so no correlation; no result with held-out CE: no row for it
    other = next(c for c in found if c.where.startswith("other"))
    assert other.n == 1 and other.r is None
    assert {c.measure for c in found} == {next(iter(forgetting.MEASURES))}
    assert forgetting.rows([other])[0][-3:] == ["–", "–", "–"]


def test_no_result_with_a_measure_means_no_section():
    assert forgetting.correlations([result(-1.0), result(-2.0)]) == []
    assert forgetting.markdown([]) == []
