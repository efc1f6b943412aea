"""Seed-level statistics: the t test over seeds, its power and mde, the seeds a planned effect
needs, Holm's correction, and a calibration simulation of whole tables."""

import numpy as np
import pytest
from scipy import stats

from promot_bench.evaluate import seed_statistics as ss

VALUES = [3.8, 13.7, 0.0]  # the committed cpu-study ProMoT − ft per seed on nli


def test_the_t_interval_and_p_value_equal_scipys():
    test = ss.seed_test(VALUES)
    reference = stats.ttest_1samp(VALUES, 0.0)
    assert test.p == pytest.approx(reference.pvalue, rel=1e-12)
    low, high = stats.t.interval(0.95, len(VALUES) - 1, np.mean(VALUES), stats.sem(VALUES))
    assert (test.low, test.high) == (pytest.approx(low), pytest.approx(high))
    assert test.df == 2 and test.sd == pytest.approx(np.std(VALUES, ddof=1))
    # the re-derivation: p = 0.29, power about 14%, an honest mde about 23 points
    assert test.p == pytest.approx(0.289, abs=0.001)
    assert test.power == pytest.approx(0.14, abs=0.005)
    assert test.mde == pytest.approx(23.1, abs=0.1)


def test_power_equals_the_noncentral_t_and_textbook_values():
    # R: power.t.test(n = 10, delta = 1, sd = 1, type = "one.sample") -> 0.8030962 (one tail)
    assert ss.power(1.0, 1.0, 10) == pytest.approx(0.80310, abs=1e-4)
    for n, effect, sd in [(3, 2.0, 3.0), (5, 1.0, 1.7), (12, 2.0, 7.1), (40, 0.5, 1.0)]:
        df, nc = n - 1, effect / (sd / np.sqrt(n))
        c = stats.t.ppf(0.975, df)
        expected = stats.nct.sf(c, df, nc) + stats.nct.cdf(-c, df, nc)
        assert ss.power(effect, sd, n) == pytest.approx(expected, rel=1e-6)
    assert ss.power(2.0, 1.0, 1) != ss.power(2.0, 1.0, 1)  # nan: no test with one seed


@pytest.mark.parametrize("n", [2, 3, 5, 12])
def test_the_mde_is_the_effect_at_80_percent_power_at_n_minus_1_degrees_of_freedom(n):
    se = 1.7
    effect = ss.mde(se, n)
    df, nc = n - 1, effect / se
    c = stats.t.ppf(0.975, df)
    if n > 2:  # scipy's nct is unreliable at one degree of freedom and large noncentrality
        assert stats.nct.sf(c, df, nc) + stats.nct.cdf(-c, df, nc) == pytest.approx(0.8, abs=1e-6)
    assert ss.power(effect, se * np.sqrt(n), n) == pytest.approx(0.8, abs=1e-6)
    # above the large-sample 2.8 SE, most at few seeds (about 5.65 at three)
    assert effect / se > 2.8 and (n != 3 or effect / se == pytest.approx(5.65, abs=0.01))


def test_seeds_needed_is_the_first_n_reaching_the_power():
    # R: power.t.test(delta = 1, sd = 1, power = 0.8, type = "one.sample") -> n = 9.94
    assert ss.seeds_needed(1.0, 1.0) == 10
    n = ss.seeds_needed(2.0, 1.71)
    assert ss.power(2.0, 1.71, n) >= 0.8 > ss.power(2.0, 1.71, n - 1)
    assert ss.seeds_needed(2.0, 7.1, cap=12) is None
    assert ss.seed_test(VALUES).seeds_for(2.0, cap=12) is None


def test_one_seed_and_identical_seeds():
    one = ss.seed_test([4.2])
    assert one.mean == 4.2 and one.p is None and one.low is None and one.mde is None
    same = ss.seed_test([1.0, 1.0, 1.0])
    assert same.p == 0.0 and same.low == same.high == 1.0 and same.mde is None
    with pytest.raises(ValueError):
        ss.seed_test([])


def test_holm_adjusts_step_down_and_skips_missing_tests():
    adjusted = ss.holm([0.01, 0.04, 0.03, None, 0.5])
    # sorted 0.01, 0.03, 0.04, 0.5 over m = 4: 0.04, 0.09, max(0.09, 0.08), max(.., 0.5)
    assert adjusted == [
        pytest.approx(0.04),
        pytest.approx(0.09),
        pytest.approx(0.09),
        None,
        pytest.approx(0.5),
    ]
    assert ss.stars([0.01, 0.04, 0.03, None, 0.5]) == ["*", "", "", "", ""]
    assert ss.paired_differences({0: 5.0, 1: 2.0, 3: 1.0}, {0: 1.0, 1: 3.0, 2: 0.0}) == {
        0: 4.0,
        1: -1.0,
    }


def simulate_tables(rng, tables, seeds, true_deltas, seed_sd, item_se, shared_sd):
    """Per-seed Δ means of a table's rows: a seed effect every tuner shares (the same batches and
    data order for one seed), each row's own seed noise, and its item noise."""
    shared = rng.normal(0.0, shared_sd, size=(tables, 1, seeds))
    own = rng.normal(0.0, seed_sd, size=(tables, len(true_deltas), seeds))
    items = rng.normal(0.0, item_se, size=(tables, len(true_deltas), seeds))
    return np.asarray(true_deltas)[None, :, None] + shared + own + items


def table_stars(rows: np.ndarray) -> list[str]:
    """The leaderboard's tests for one table: every row's Δ mean against 0 and every row after
    the first (ft) against ft, seed by seed; Holm over all of them."""
    tests = [ss.seed_test(row).p for row in rows]
    tests += [ss.seed_test(row - rows[0]).p for row in rows[1:]]
    return ss.stars(tests)


def test_with_no_true_difference_at_most_5_percent_of_tables_carry_a_star():
    rng = np.random.default_rng(20261207)
    sims = 1500
    rows = simulate_tables(rng, sims, 5, [0.0] * 4, seed_sd=3.0, item_se=0.6, shared_sd=2.0)
    with_a_star = sum("*" in table_stars(table) for table in rows)
    rate, mc_error = with_a_star / sims, np.sqrt(0.05 * 0.95 / sims)
    assert rate <= 0.05 + 2 * mc_error
    # without the correction the same tables star far more often: the test has teeth
    raw = sum(
        any(ss.seed_test(r).p < 0.05 for r in [*table, *(table[1:] - table[0])]) for table in rows
    )
    assert raw / sims > 0.2


def test_at_the_planned_effect_the_power_is_the_plan():
    """The seed rule: seeds for 80% power at a 2-point ProMoT − ft difference, from the seed SD.
    Simulated with that many seeds, the unadjusted test rejects about 80% of the time."""
    sd = 1.71
    n = ss.seeds_needed(2.0, sd)
    rng = np.random.default_rng(7)
    differences = 2.0 + rng.normal(0.0, sd, size=(3000, n))
    rejected = np.mean([ss.seed_test(d).p < 0.05 for d in differences])
    assert rejected == pytest.approx(ss.power(2.0, sd, n), abs=0.03)
    assert ss.power(2.0, sd, n) >= 0.8
