"""The verdict table (seed-level: tuners ranked, each against ft, Holm over the table) and the
seed plan a preset's written rule gives from its pilot."""

import json

import pytest
from helpers.results import complete
from scipy import stats

from promot_bench import config
from promot_bench.errors import RunError, UsageError
from promot_bench.evaluate import seed_statistics as ss
from promot_bench.report import leaderboard, seed_plan, tables, verdict

FT = {0: 40.0, 1: 44.0, 2: 38.0}  # mean in-context score after, per seed
PROMOT = {0: 45.0, 1: 47.5, 2: 44.0}
BEFORE = 46.0


def result(tuner, seed, after, train="nli", preset="cpu-study-v2", target=70.0, budget=None):
    return {
        "model": {"name": "tiny"},
        "eval_group": "promot_mini_v2",
        "shots": 1,
        "seed": seed,
        "tuner": tuner,
        "train": train,
        "preset": preset,
        "budget": {
            "label": budget,
            "keep_best": False,
            "examples_per_stage": 3584,
            "dose": {"stage": "model", "steps": 448, "examples": 3584, "of_steps": 448},
        },
        "target_task": f"promot_mini_v2_{train.replace('-', '_')}",
        "target_tasks": [f"promot_mini_v2_{train.replace('-', '_')}"],
        "before": {"probe": {"score": BEFORE}},
        "after": {"probe": {"score": after}},
        "target": {"pretrained": {"score": 50.0}, "tuned": {"score": target + seed}},
        "mean": {"before": BEFORE, "after": after, "delta": after - BEFORE},
        "delta_ci": {"mean": {"delta": after - BEFORE, "low": -1.0, "high": 1.0}},
    }


def write(folder, results):
    for r in results:
        variant = r["preset"] + (f"-{r['budget']['label']}" if r["budget"]["label"] else "")
        path = folder / f"runs/tiny/mini/{r['train']}/{r['tuner']}/{variant}/seed{r['seed']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(complete(r)))


@pytest.fixture
def board(tmp_path):
    runs = [result("ft", s, v) for s, v in FT.items()]
    runs += [result("promot", s, v) for s, v in PROMOT.items()]
    runs += [result("promot-1shot", 0, 30.0)]  # one seed: listed, never tested
    write(tmp_path, runs)
    return tmp_path


def test_the_verdict_ranks_tuners_by_seed_mean_with_t_tests_against_ft(board):
    (v,) = verdict.verdicts(tables.load_results(board))
    assert [e.tuner for e in v.entries] == ["promot", "ft", "promot-1shot"]
    promot = v.entries[0]
    differences = [PROMOT[s] - FT[s] for s in FT]
    reference = stats.ttest_1samp(differences, 0.0)
    assert promot.versus_ft.mean == pytest.approx(sum(differences) / 3)
    assert promot.versus_ft.p == pytest.approx(reference.pvalue)
    low, high = stats.t.interval(0.95, 2, promot.versus_ft.mean, stats.sem(differences))
    assert (promot.versus_ft.low, promot.versus_ft.high) == (
        pytest.approx(low),
        pytest.approx(high),
    )
    # Holm over the table's four tests: ft's and promot's Δ, promot vs ft
    raw = [v.entries[1].delta.p, promot.delta.p, promot.versus_ft.p]
    assert sorted([v.entries[1].delta_p, promot.delta_p, promot.versus_ft_p]) == pytest.approx(
        sorted(ss.holm(raw))
    )
    one = v.entries[2]
    assert one.delta.p is None and one.delta_p is None and one.versus_ft.p is None
    assert promot.target.mean == pytest.approx(71.0)  # 70, 71, 72 over the seeds


def test_the_verdict_heads_the_leaderboard_and_the_csv_tells_cells_apart(board):
    write(board, [result("ft", s, v, budget="checkpoint28") for s, v in FT.items()])
    leaderboard.build(board)
    text = (board / "LEADERBOARD.md").read_text()
    first_table = text.index("\n## ")
    assert text[first_table:].startswith("\n## Verdict")
    assert "Holm" in text and "| 1 | promot | 3 |" in text
    header, *lines = (board / "LEADERBOARD.csv").read_text().splitlines()
    columns = header.split(",")
    assert {"preset", "budget", "keep_best", "data_hash", "versus_ft_p_holm"} <= set(columns)
    budgets = {line.split(",")[columns.index("budget")] for line in lines}
    assert budgets == {"", "checkpoint28"}
    assert "Verdict" in (board / "LEADERBOARD.html").read_text()


def test_the_seed_plan_follows_the_written_rule(board, tmp_path):
    write(
        board,
        [
            result(t, s, v, train="en-fr")
            for t, d in (("ft", FT), ("promot", PROMOT))
            for s, v in d.items()
        ],
    )
    found = seed_plan.plan(board, "cpu-study-v2", "tiny")
    rule = config.seed_rule("cpu-study-v2")
    sd = ss.seed_test([PROMOT[s] - FT[s] for s in FT]).sd
    expected = ss.seeds_needed(rule.effect, sd, rule.power, rule.alpha, cap=rule.cap)
    entry = found["targets"]["nli"]
    assert entry["pilot_sd"] == pytest.approx(sd)
    assert entry["seeds"] == (rule.cap if expected is None else max(rule.minimum, expected))
    assert entry["planned_power"] == pytest.approx(ss.power(2.0, sd, entry["seeds"]))
    assert any("--tuners ft,promot --train nli --seeds 0," in c for c in seed_plan.commands(found))
    assert "pilot SD" in seed_plan.text(found)
    path = seed_plan.write(board, found)
    assert json.loads(path.read_text())["targets"]["nli"]["seeds"] == entry["seeds"]


def test_an_incomplete_pilot_or_one_of_two_data_versions_is_refused(board):
    with pytest.raises(RunError, match="pilot on en-fr is not complete"):
        seed_plan.plan(board, "cpu-study-v2", "tiny")
    other = result("ft", 0, 41.0, train="en-fr")
    other["data_hash"] = "another-version"
    write(board, [other])
    with pytest.raises(UsageError, match="2 data versions"):
        seed_plan.plan(board, "cpu-study-v2", "tiny")
