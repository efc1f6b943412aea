"""The printed row of a finished run: columns sized to the longest task name, no signed zeros,
the format column's unit, and a rerun of a finished cell saying that it shows the saved result."""

import json
import subprocess
import sys

from helpers.runs import saved_result

from promot_bench.run import printing

LONG = "promot_mini_map_city_continent_and_more"


def result():
    ci = {"low": -0.004, "high": 3.0, "significant": False}
    share = {"before": 0.0, "after": 2.0, "ci": {"significant": True}}
    return {
        "tuner": "ft",
        "train": "nli",
        "model": {"name": "tiny"},
        "eval_group": "g",
        "shots": 1,
        "seed": 0,
        "target_task": "t",
        "target": {"tuned": {"score": 50.0}, "pretrained": {"score": 10.0}},
        "before": {"a": {"score": 40.0}, LONG: {"score": 20.0}},
        "after": {"a": {"score": 40.001}, LONG: {"score": 25.0}},
        "mean": {"before": 30.0, "after": 32.5, "delta": 2.5},
        "delta_ci": {"a": ci, LONG: ci, "mean": ci},
        "collapse": {"a": share, LONG: share, "mean": share},
        "created": "2026-12-07T03:00:00+0000",
    }


def test_columns_fit_the_longest_name_and_zeros_carry_no_sign():
    lines = printing.format_row(result()).splitlines()
    header, first, long, mean = lines[2], lines[3], lines[4], lines[5]
    assert header.startswith("eval task" + " " * (len(LONG) - len("eval task") + 1))
    assert header.endswith("collapse (%)")
    # every row's numbers start in the same column, the long name's included
    assert len({line.index(" 40.00") for line in (first,)} | {long.index(" 20.00")}) == 1
    assert "   0.00  [0.00, +3.00]" in first  # not "+0.00" nor "-0.00"
    assert mean.startswith("mean ") and "+2.50" in mean and "0→2 *" in mean
    assert printing.signed(-0.001) == "0.00" and printing.signed(-0.01) == "-0.01"


def test_a_finished_cell_rerun_says_it_shows_the_saved_result(tmp_path):
    out = tmp_path / "out"
    path = out / "runs/smollm2-135m/mini/nli/ft/seed0.json"
    path.parent.mkdir(parents=True)
    saved = saved_result(
        command="promot-bench run --tuner ft --train nli --suite mini --shots 1 --seed 0 "
        f"--preset cpu-small --out {out}",
        config={},
        created="2026-12-07T03:00:00+0000",
    )
    path.write_text(json.dumps(saved))
    done = subprocess.run(
        [sys.executable, "-m", "promot_bench.cli", "run", "--tuner", "ft", "--train", "nli"]
        + ["--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[0].startswith("already done at 2026-12-07T03:00:00")
    assert "showing the saved result" in done.stderr
