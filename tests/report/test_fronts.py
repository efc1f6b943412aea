"""Two tuners' fronts compared (report/fronts.py): on fixture fronts whose areas are known, the
Pareto front, the mean gap over the overlap of their target ranges, and the test over seeds."""

import pytest

from promot_bench.report import fronts
from promot_bench.store.result import LoadedResult


def test_the_front_keeps_only_undominated_points_by_target_score():
    points = [(10.0, 0.0), (5.0, 2.0), (5.0, 1.0), (0.0, 2.0), (8.0, -1.0)]
    # (5, 1) is beaten by (5, 2); (0, 2) matched on Δ by (5, 2) and beaten on target score;
    # (8, -1) beaten by (10, 0)
    assert fronts.front(points) == [(5.0, 2.0), (10.0, 0.0)]


def test_the_gap_is_the_area_between_the_fronts_over_the_scores_compared():
    # parallel lines 5 apart over [0, 10]: area 50, width 10
    assert fronts.gap([(0, 10), (10, 0)], [(0, 5), (10, -5)]) == (pytest.approx(5.0), (0, 10))
    # ours y = 10 - x over [0, 10]; theirs y = 0 over [5, 15], flat (0) below 5: compared from
    # 0 (the lowest either reaches) to 10 (the highest both reach) — area 50 over width 10
    value, compared = fronts.gap([(0, 10), (10, 0)], [(5, 0), (15, 0)])
    assert value == pytest.approx(5.0) and compared == (0, 10)
    # a single point: flat below it — ours 3 against theirs 10 - x over [0, 4]: 3 - 8
    assert fronts.gap([(4, 3)], [(0, 10), (10, 0)]) == (pytest.approx(-5.0), (0, 4))
    # ranges that do not overlap still compare: theirs flat at 0 below 5, ours 1 -> 0 over [0, 4]
    assert fronts.gap([(0, 1), (4, 0)], [(5, 0), (9, 1)])[0] == pytest.approx(0.5)


def run(tuner, seed, target, delta, train="nli", budget=None):
    return LoadedResult(
        {
            "model": {"name": "m"},
            "eval_group": "g",
            "shots": 1,
            "preset": "p",
            "train": train,
            "tuner": tuner,
            "seed": seed,
            "budget": {"label": budget},
            "target": {"tuned": {"score": target}},
            "mean": {"delta": delta},
        }
    )


def test_the_comparison_pairs_seeds_and_tests_over_them():
    from scipy import stats

    results = []
    for seed, shift in enumerate([4.0, 5.0, 6.0]):
        results += [run("ft", seed, 0.0, 0.0), run("ft", seed, 10.0, -10.0, budget="b")]
        results += [
            run("promot", seed, 0.0, shift),
            run("promot", seed, 10.0, shift - 10, budget="b"),
        ]
    results.append(run("promot", 3, 5.0, 0.0))  # a seed ft lacks: not compared
    results.append(run("pt", 0, 20.0, 0.0))  # above ft's range: flat 0 against ft's front
    found, pt = fronts.comparisons(results)
    assert pt.tuner == "pt" and pt.gaps == {0: pytest.approx(5.0)} and pt.test is None
    assert found.tuner == "promot" and found.gaps == {0: 4.0, 1: 5.0, 2: 6.0}
    assert found.compared == (0.0, 10.0)
    expected = stats.ttest_1samp([4.0, 5.0, 6.0], 0.0)
    assert found.test.mean == pytest.approx(5.0) and found.test.p == pytest.approx(expected.pvalue)
    (row,) = fronts.rows([found])
    assert row[1:4] == ["promot", "3", "0.0–10.0"] and row[4].startswith("+5.00 [")
    assert fronts.markdown([]) == [] and "| promot | 3 |" in "\n".join(fronts.markdown([found]))
