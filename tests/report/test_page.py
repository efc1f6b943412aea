"""LEADERBOARD.html: self-contained, cells coloured on the heatmap's scale with their interval on
hover, per-task detail, filters; and, in a real browser (headless Chromium, skipped where it is
absent), a table that sorts."""

import json
import shutil
import subprocess

import pytest

from promot_bench.report import leaderboard, page


def result(tuner, seed, after, mean_delta):
    before = {"promot_mini_v2_map_plural": 90.0, "promot_mini_v2_qa_capitals": 20.0}
    return {
        "model": {"name": "tiny"},
        "eval_group": "promot_mini_v2",
        "shots": 1,
        "seed": seed,
        "tuner": tuner,
        "train": "nli",
        "target_task": "promot_mini_v2_nli",
        "before": {t: {"score": v} for t, v in before.items()},
        "after": {t: {"score": v} for t, v in after.items()},
        "target": {"pretrained": {"score": 50.0}, "tuned": {"score": 95.0}},
        "mean": {"before": 55.0, "after": 55.0 + mean_delta, "delta": mean_delta},
        "delta_ci": {
            "mean": {
                "delta": mean_delta,
                "low": mean_delta - 1,
                "high": mean_delta + 1,
                "significant": False,
            },
            "promot_mini_v2_map_plural": {"low": -12.0, "high": -8.0},
            "promot_mini_v2_qa_capitals": {"low": -1.0, "high": 3.0},
        },
    }


@pytest.fixture
def board(tmp_path):
    runs = [
        result(
            "ft", 0, {"promot_mini_v2_map_plural": 80.0, "promot_mini_v2_qa_capitals": 21.0}, -4.5
        ),
        result(
            "promot",
            0,
            {"promot_mini_v2_map_plural": 89.0, "promot_mini_v2_qa_capitals": 25.0},
            2.0,
        ),
        result(
            "lora",
            0,
            {"promot_mini_v2_map_plural": 70.0, "promot_mini_v2_qa_capitals": 10.0},
            -15.0,
        ),
    ]
    for r in runs:
        path = tmp_path / "runs/tiny/mini/nli" / r["tuner"] / "seed0.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(r))
    leaderboard.build(tmp_path)
    return tmp_path / "LEADERBOARD.html"


def test_the_page_is_self_contained_coloured_and_explains_each_cell(board):
    text = board.read_text()
    assert "http://" not in text and "https://" not in text and "<script src" not in text
    # the largest loss (lora: plural -20) is the heatmap scale's end: full red; a gain is blue
    assert "background:#b2182b' title='Δ -20.00, 95% interval [-12.00, -8.00]'" in text
    assert page.colour(5.0, 20.0).startswith("#") and page.colour(5.0, 20.0) != page.colour(
        -5.0, 20.0
    )
    assert page.colour(0.0, 20.0) == "#f7f7f7" and page.colour(-20.0, 20.0) == "#b2182b"
    assert page.colour(99.0, 20.0) == "#2166ac"  # beyond the scale: its end
    assert (
        "<section class='board' data-model='tiny' data-group='promot_mini_v2' data-shots='1'>"
        in text
    )
    assert (
        "<select name='model'><option value='all'>all</option><option value='tiny'>tiny</option>"
        in text
    )
    assert text.count("per-task detail</summary>") == 3 and "data:image/png;base64," in text


@pytest.mark.skipif(
    shutil.which("chromium") is None and shutil.which("chromium-browser") is None,
    reason="headless Chromium is not installed (Debian: apt-get install chromium)",
)
@pytest.mark.parametrize(
    "direction,expected",
    [("asc", ["-15.0 *", "-4.5 *", "+2.0 *", "–"]), ("desc", ["+2.0 *", "-4.5 *", "-15.0 *", "–"])],
)
def test_a_real_browser_sorts_the_table(board, tmp_path, direction, expected):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    done = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--dump-dom",
            f"{board.as_uri()}#sort=0:6:{direction}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-500:]
    # Δ mean (columns: model, seeds, target, 2 tasks, mean, Δ); the page as built lists the rows
    # in another order, so only the browser's sort can give this one
    assert page.sorted_column(board.read_text(), 0, 6) != expected
    assert page.sorted_column(done.stdout, 0, 6) == expected
    assert page.sorted_column(done.stdout, 0, 0)[-1] == "pretrained"
