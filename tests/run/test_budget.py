"""The training budget as a cell dimension: --budget gives a dose cell (every stage that long,
final weights kept) in its own folder and its own leaderboard table; bad budgets, budgets over
the preset's cap and a finished cell trained with other settings are refused in one line."""

import json

import pytest
from helpers.runs import saved_result

from promot_bench.errors import UsageError
from promot_bench.report import tables
from promot_bench.run import runner, sweep
from promot_bench.run.options import RunOptions
from promot_bench.store.result import LoadedResult
from promot_bench.tuners import load_settings


def plan(tmp_path, **kw):
    return runner.plan(RunOptions(**{"tuner": "ft", "train": "nli", "out": tmp_path, **kw}))


def test_the_preset_s_own_budget_has_no_folder_of_its_own(tmp_path):
    default = plan(tmp_path)
    assert default.budget is None and default.variant is None
    assert default.result_path == tmp_path / "runs/smollm2-135m/mini/nli/ft/seed0.json"
    # the preset's own length with keep-best on is the preset's own budget, however it was asked for
    same = plan(tmp_path, steps=40, overrides={"keep_best": "true"})
    assert same.budget is None and same.result_path == default.result_path


def test_a_budget_is_a_folder_and_sets_every_stage_with_final_weights(tmp_path):
    dose = plan(tmp_path, steps=640)
    values = dose.settings.to_dict()
    assert [values[k] for k in ("steps", "prompt_steps", "lora_steps", "keep_best")] == [
        640,
        640,
        640,
        False,
    ]
    assert dose.result_path == tmp_path / "runs/smollm2-135m/mini/nli/ft/steps640/seed0.json"
    assert (
        plan(tmp_path, steps=40).budget == "steps40"
    )  # the preset's length, but the final weights
    assert plan(tmp_path, steps=160, overrides={"keep_best": "true"}).budget == "steps160-best"
    assert (
        plan(tmp_path, overrides={"prompt_steps": "80"}).budget == "steps40-80-40-40-best"
    )  # --set: keep-best stays
    assert plan(tmp_path, preset="paper").variant == "paper"  # another preset: its own folder too
    assert "--budget 640" in dose.options.command()


def test_a_sweep_crosses_budgets_with_tuners_and_seeds(tmp_path):
    base = RunOptions(tuner="", train="", out=tmp_path)
    cells = sweep.plans(base, ["ft", "pt"], ["nli"], [0], sweep.parse_steps("40,160,640"))
    assert [(c.options.tuner, c.budget) for c in cells] == [
        (t, f"steps{n}") for t in ("ft", "pt") for n in (40, 160, 640)
    ]
    assert len({c.result_path for c in cells}) == 6
    assert sweep.parse_steps(None) == [None]


@pytest.mark.parametrize("text", ["40,0", "-40", "40,abc", "1e3", "40,,160", "40,40", ""])
def test_bad_budget_lists_are_refused(text):
    with pytest.raises(UsageError, match="--budgets"):
        sweep.parse_steps(text)


def test_a_budget_over_the_preset_s_cap_is_refused(tmp_path):
    cap = load_settings("cpu-small").train.max_steps
    with pytest.raises(UsageError, match="above this preset's cap"):
        plan(tmp_path, steps=cap + 1)
    assert (
        plan(tmp_path, steps=cap + 1, overrides={"max_steps": str(cap + 1)}).settings.train.steps
        == cap + 1
    )


def test_a_finished_cell_with_other_settings_is_refused_not_returned(tmp_path):
    p = plan(tmp_path, steps=160)
    p.result_path.parent.mkdir(parents=True)
    p.result_path.write_text(json.dumps(saved_result(config={**p.settings.to_dict(), "lr": 1e-4})))
    with pytest.raises(UsageError, match="other settings .*lr 0.0001 there, 5e-05 here"):
        runner.execute(p, progress=False)
    same = saved_result(config=p.settings.to_dict())
    p.result_path.write_text(json.dumps(same))
    assert runner.execute(p, progress=False) == same


def result(budget, tuner="ft", preset="cpu-small"):
    return {
        "model": {"name": "tiny"},
        "eval_group": "promot_mini_v2",
        "shots": 1,
        "seed": 0,
        "tuner": tuner,
        "train": "nli",
        "target_task": "promot_mini_v2_nli",
        "preset": preset,
        "budget": {"label": budget},
        "before": {"a": {"score": 50.0}},
        "after": {"a": {"score": 40.0}},
        "target": {"pretrained": {"score": 50.0}, "tuned": {"score": 90.0}},
        "mean": {"before": 50.0, "after": 40.0, "delta": -10.0},
        "delta_ci": {"mean": {"delta": -10.0, "low": -12.0, "high": -8.0, "significant": True}},
    }


def test_the_leaderboard_never_mixes_budgets_or_presets_in_one_table(tmp_path):
    runs = [
        result(None),
        result(None, "promot"),
        result("steps640"),
        result("steps160"),
        result("steps40"),
        result(None, preset="paper"),
        {**result(None), "budget": None, "preset": "cpu-small"},
    ]  # written before budgets were recorded
    built = tables.build_tables([LoadedResult(r) for r in runs])
    # budgets in number order, not the text's (steps160 sorts before steps40 as text)
    assert [t.setting for t in built] == [None, "paper", "steps40", "steps160", "steps640"]
    assert [[row.label for row in t.rows[1:]] for t in built] == [
        ["ft → nli", "promot → nli"],
        ["ft → nli"],
        ["ft → nli"],
        ["ft → nli"],
        ["ft → nli"],
    ]
    assert built[0].rows[1].seeds == [0, 0]  # the old result joins its preset's own table
    assert built[3].title.endswith("· steps160") and built[3].slug == "tiny-promot_mini_v2-steps160"


def test_each_table_states_the_code_its_cells_come_from():
    runs = [
        {**result(None), "code": {"commit": "a7ecaa6" + "0" * 33, "source_sha256": "f" * 64}},
        {**result(None, "promot"), "code": {"commit": "b8c1ef3" + "0" * 33 + "+dirty"}},
        {**result(None, "pt"), "code": {"commit": None, "source_sha256": "e" * 64}},
        {**result(None, "lora"), "git_commit": "a7ecaa6" + "0" * 33},
    ]  # a result of schema 2
    (table,) = tables.build_tables([LoadedResult(r) for r in runs])
    assert table.commits == {"a7ecaa600000": 2, "b8c1ef300000+dirty": 1, "source eeeeeeeeeeee": 1}
    line = tables.commits_line(table)
    assert (
        line.startswith("Code: `a7ecaa600000` (2), ")
        and "of 4 result files" in line
        and "with care" in line
    )
    assert (
        tables.commits_line(tables.build_tables([LoadedResult(runs[0])])[0])
        == "Code: `a7ecaa600000` (1) of 1 result file"
    )


@pytest.mark.parametrize(
    "old,new",
    [
        (["run", "--tuner", "ft", "--train", "nli", "--steps", "30"], "--budget"),
        (["sweep", "--tuners", "ft", "--train", "nli", "--steps", "40,160"], "--budgets"),
    ],
)
def test_the_old_steps_flag_still_sets_the_budget_and_names_the_new_one(old, new, capsys):
    from promot_bench.cli import build_parser

    parser = build_parser()
    renamed = parser.parse_args(old)
    said = capsys.readouterr().err.strip().splitlines()
    current = parser.parse_args([new if a == "--steps" else a for a in old])
    assert renamed.steps == current.steps == (30 if new == "--budget" else "40,160")
    assert len(said) == 1 and f"--steps is now {new}" in said[0]
    assert capsys.readouterr().err == ""  # the new spelling says nothing
    with pytest.raises(SystemExit):
        parser.parse_args([old[0], "--help"])
    shown = capsys.readouterr().out
    assert f"{new} " in shown and "--steps" not in shown  # the old spelling is not offered
