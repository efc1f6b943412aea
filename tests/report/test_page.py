"""LEADERBOARD.html: self-contained, cells coloured on the heatmap's colormap with their interval
on hover, per-task detail, filters; and, in a real browser (headless Chromium, which CI installs),
a table that sorts, the verdict and every image rendered."""

import json
import re
import shutil
import subprocess

import pytest
from helpers.page_dom import board_column
from helpers.results import complete
from matplotlib import colormaps, colors

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
        path.write_text(json.dumps(complete(r)))
    leaderboard.build(tmp_path)
    return tmp_path / "LEADERBOARD.html"


def test_the_page_needs_no_network_is_coloured_and_explains_each_cell(board):
    text = board.read_text()
    assert "http://" not in text and "https://" not in text and "<script src" not in text
    # the largest loss (lora: plural -20) is the heatmap's colormap's end: full red; a gain blue
    red_end = colors.to_hex(colormaps["RdBu"](0.0))
    assert f"background:{red_end}' title='Δ -20.00, 95% interval [-12.00, -8.00]'" in text
    assert page.colour(-20.0, 20.0) == red_end and page.colour(-99.0, 20.0) == red_end
    assert page.colour(99.0, 20.0) == colors.to_hex(colormaps["RdBu"](1.0))  # beyond: its end

    def rgb(hex_colour):
        return colors.to_rgb(hex_colour)

    loss, gain, zero = (
        rgb(page.colour(-5.0, 20.0)),
        rgb(page.colour(5.0, 20.0)),
        rgb(page.colour(0.0, 20.0)),
    )
    assert loss[0] > loss[2] and gain[2] > gain[0]  # red below 0, blue above
    assert min(zero) > 0.9 and max(zero) - min(zero) < 0.05  # white-ish at 0
    assert sum(rgb(page.colour(-15.0, 20.0))) < sum(loss)  # deeper for a larger loss
    assert (
        "<section class='board' data-model='tiny' data-group='promot_mini_v2' data-shots='1'>"
        in text
    )
    assert (
        "<select name='model'><option value='all'>all</option><option value='tiny'>tiny</option>"
        in text
    )
    assert text.count("per-task detail</summary>") == 3 and "data:image" not in text
    links = re.findall(r"<img alt='[^']*' src='([^']*)'>", text)
    # every plot linked as the Markdown page links it, and there beside the page
    assert links and all(link.startswith("plots/") for link in links)
    assert all((board.parent / link).is_file() for link in links)
    markdown = (board.parent / "LEADERBOARD.md").read_text()
    assert set(links) <= set(re.findall(r"\]\((plots/[^)]*)\)", markdown))


def chromium(*arguments: str) -> subprocess.CompletedProcess:
    """Headless Chromium as CI installs it (Debian's `chromium`, by .ci/run): never skipped, so a
    machine without it fails here, loudly."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "headless Chromium is not installed (Debian: apt-get install chromium)"
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", *arguments],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-500:]
    return done


@pytest.mark.parametrize(
    "direction,expected",
    # one seed each: their item-level intervals exclude 0 (†), never a star
    [("asc", ["-15.0 †", "-4.5 †", "+2.0 †", "–"]), ("desc", ["+2.0 †", "-4.5 †", "-15.0 †", "–"])],
)
def test_a_real_browser_sorts_the_table(board, tmp_path, direction, expected):
    done = chromium("--dump-dom", f"{board.as_uri()}#sort=0:6:{direction}")
    # Δ mean (columns: model, seeds, target, 2 tasks, mean, Δ); the page as built lists the rows
    # in another order, so only the browser's sort can give this one
    assert board_column(board.read_text(), 0, 6) != expected
    assert board_column(done.stdout, 0, 6) == expected
    assert board_column(done.stdout, 0, 0)[-1] == "pretrained"


@pytest.fixture
def verdict_board(tmp_path):
    """Three seeds of ft and ProMoT: a verdict table, heatmaps and plots to render."""
    for seed, (ft, promot) in enumerate([(-4.5, 2.0), (-3.0, 1.0), (-5.5, 0.5)]):
        for tuner, delta in (("ft", ft), ("promot", promot)):
            r = result(
                tuner,
                seed,
                {"promot_mini_v2_map_plural": 90 + delta, "promot_mini_v2_qa_capitals": 20 + delta},
                delta,
            )
            path = tmp_path / "runs/tiny/mini/nli" / tuner / f"seed{seed}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(complete(r)))
    leaderboard.build(tmp_path)
    return tmp_path / "LEADERBOARD.html"


def test_a_real_browser_renders_the_verdict_and_every_image(verdict_board, tmp_path):
    """The verdict heads the page with a row per tuner, every plot (heatmaps among them)
    decodes and shows, and the screenshot is a page, not a blank."""
    from matplotlib import image as mpimg

    dom = chromium("--dump-dom", verdict_board.as_uri()).stdout
    first_board = dom.index('class="board"') if 'class="board"' in dom else len(dom)
    assert '<table class="verdict">' in dom and dom.index("verdict") < first_board
    verdict_rows = dom.split('<table class="verdict">', 1)[1].split("</table>", 1)[0]
    assert verdict_rows.count("<tr>") == 1 + 2  # the header, ft and promot
    images = dom.count("<img ")
    assert images >= 2 and f'data-images-shown="{images}"' in dom
    shot = tmp_path / "page.png"
    chromium("--window-size=1200,2400", f"--screenshot={shot}", verdict_board.as_uri())
    pixels = mpimg.imread(shot)[..., :3].reshape(-1, 3)
    red = ((pixels[:, 0] > 0.6) & (pixels[:, 1] < 0.4) & (pixels[:, 2] < 0.4)).sum()
    assert len({tuple(p) for p in pixels[::97].round(2)}) > 50 and red > 100  # the heatmap's reds
