"""The learning rate as a cell dimension: `--lr` sets the tuner's own rate, a rate other than the
preset's is a folder, a table, a dose line of its own, and it is recorded; bad rates and grids
that repeat a rate are refused in one line."""

import pytest

from promot_bench.errors import UsageError
from promot_bench.report import dose, tables
from promot_bench.run import runner, sweep
from promot_bench.run.options import RunOptions
from promot_bench.store.result import LoadedResult


def plan(tmp_path, **kw):
    return runner.plan(RunOptions(**{"tuner": "ft", "train": "nli", "out": tmp_path, **kw}))


def test_each_tuner_s_own_rate_is_a_folder_where_it_is_not_the_preset_s(tmp_path):
    assert plan(tmp_path, lr=5e-5).rate is None  # cpu-small's own rate: the default cell
    low = plan(tmp_path, lr=1e-5)
    assert low.rate == "lr1e-05" and low.settings.train.lr == 1e-5
    assert low.result_path == tmp_path / "runs/smollm2-135m/mini/nli/ft/lr1e-05/seed0.json"
    # pt's own rate is its prompt's; lora's its adapter's; ProMoT's its model stage's
    assert plan(tmp_path, tuner="pt", lr=0.1).settings.to_dict()["prompt_lr"] == 0.1
    assert plan(tmp_path, tuner="lora", lr=2e-4).settings.to_dict()["lora_lr"] == 2e-4
    promot = plan(tmp_path, tuner="promot", lr=2e-4).settings.to_dict()
    assert (promot["lr"], promot["prompt_lr"]) == (2e-4, 0.3)
    # --set names the same cell as --lr; with a dose budget and a preset, all three in the folder
    assert plan(tmp_path, overrides={"lr": "1.0e-5"}).result_path == low.result_path
    v2 = plan(tmp_path, lr=1e-5, preset="cpu-study-v2")
    assert [q.variant for q in runner.dose_plans(v2)] == [
        "cpu-study-v2-lr1e-05-checkpoint28",
        "cpu-study-v2-lr1e-05-checkpoint112",
        "cpu-study-v2-lr1e-05",
    ]
    assert "--lr 1e-05" in low.options.command()


def test_a_sweep_crosses_rates_and_refuses_bad_grids(tmp_path):
    base = RunOptions(tuner="", train="", out=tmp_path)
    cells = sweep.plans(base, ["ft"], ["nli"], [0], [None], sweep.parse_rates("1e-5,5e-5,2e-4"))
    assert [c.rate for c in cells] == ["lr1e-05", None, "lr2e-04"]
    assert sweep.parse_rates(None) == [None]
    for text, message in [
        ("1e-4,0.0001", "twice"),
        ("1e-4,0", "positive"),
        ("-1e-4", "positive"),
        ("nan", "positive"),
        ("1e-4,x", "numbers"),
        ("1e-4,,2e-4", "comma-separated"),
    ]:
        with pytest.raises(UsageError, match=message):
            sweep.parse_rates(text)


def result(tuner, rate, delta, target, budget=None):
    return LoadedResult(
        {
            "model": {"name": "tiny"},
            "eval_group": "g",
            "shots": 1,
            "seed": 0,
            "tuner": tuner,
            "train": "nli",
            "preset": "cpu-study-v2",
            "target_task": "t",
            "learning_rate": {"setting": "lr", "value": 1.0, "label": rate},
            "budget": {
                "label": budget,
                "keep_best": False,
                "examples_per_stage": 0,
                "dose": {"examples": 224 if budget else 3584},
            },
            "before": {"p": {"score": 50.0}},
            "after": {"p": {"score": 50.0 + delta}},
            "target": {"tuned": {"score": target}, "pretrained": {"score": 0.0}},
            "mean": {"before": 50.0, "after": 50.0 + delta, "delta": delta},
            "delta_ci": {"mean": {"low": delta - 1, "high": delta + 1}},
            "target_tasks": ["t"],
        }
    )


def test_rates_are_tables_and_dose_lines_of_their_own():
    results = [
        result("ft", None, -2.0, 70.0),
        result("ft", None, -1.0, 60.0, "checkpoint28"),
        result("ft", "lr1e-05", -0.5, 65.0),
        result("ft", "lr1e-05", 0.0, 50.0, "checkpoint28"),
    ]
    settings = sorted(t.setting for t in tables.build_tables(results))
    assert settings == [
        "cpu-study-v2",
        "cpu-study-v2-checkpoint28",
        "cpu-study-v2-lr1e-05",
        "cpu-study-v2-lr1e-05-checkpoint28",
    ]
    (found,) = dose.points(results).values()
    lines = dose.dose_lines(found)
    assert sorted(lines) == ["ft", "ft lr1e-05"]
    assert [p.examples for p in lines["ft lr1e-05"]] == [224, 3584]
