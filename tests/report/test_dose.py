"""Dose curves and the learning–retention frontier from fixture result files: the points (one
per tuner × budget, with their intervals), the Pareto front, the plotted data, valid PNGs, and
the leaderboard's section."""

import json

import pytest
from helpers.results import complete
from matplotlib.collections import PathCollection
from matplotlib.colors import to_hex

from promot_bench.report import dose, dose_plots, figures, leaderboard, tables
from promot_bench.store.result import LoadedResult


def result(tuner, steps, delta, target, keep_best=False, seed=0, collapse=None, stderr=2.0):
    budget = None if keep_best else f"steps{steps}"
    r = {
        "model": {"name": "tiny"},
        "eval_group": "promot_mini_v2",
        "shots": 1,
        "seed": seed,
        "tuner": tuner,
        "train": "nli",
        "target_task": "promot_mini_v2_nli",
        "preset": "cpu-small",
        "budget": {"label": budget, "keep_best": keep_best, "examples_per_stage": steps * 8},
        "before": {"a": {"score": 50.0}},
        "after": {"a": {"score": 50.0 + delta}},
        "target": {"pretrained": {"score": 50.0}, "tuned": {"score": target, "stderr": stderr}},
        "mean": {"before": 50.0, "after": 50.0 + delta, "delta": delta},
        "delta_ci": {
            "mean": {"delta": delta, "low": delta - 1.5, "high": delta + 1.0, "significant": True}
        },
    }
    if collapse is not None:
        r["collapse"] = {
            "mean": {
                "before": 0.0,
                "after": collapse,
                "delta": collapse,
                "ci": {"low": collapse - 2, "high": collapse + 3, "significant": True},
            }
        }
    return LoadedResult(r)


@pytest.fixture
def results():
    return [
        result("ft", 40, -1.0, 90.0, collapse=1.0),
        result("ft", 160, -4.0, 99.0, collapse=20.0),
        result("ft", 640, -12.0, 100.0, collapse=90.0),
        result("promot", 40, -0.5, 85.0, collapse=0.0),
        result("promot", 160, -1.0, 95.0, collapse=2.0),
        result("promot", 640, -3.0, 98.0, collapse=10.0),
        result("ft", 40, -0.8, 92.0, keep_best=True),  # the matrix cell (keep-best)
        result("pt", 40, 0.0, 70.0),
    ]  # one budget only: a frontier point, no dose line


def test_points_carry_budget_intervals_and_keep_best(results):
    ((key, found),) = dose.points(results).items()
    assert key == ("tiny", "promot_mini_v2", 1, "cpu-small", "promot_mini_v2_nli")
    assert len(found) == 8
    ft640 = next(p for p in found if p.tuner == "ft" and p.budget == "steps640")
    assert ft640.examples == 5120 and not ft640.keep_best and ft640.seeds == 1
    assert ft640.delta == (-12.0, -13.5, -11.0)  # the run's own bootstrap interval
    assert ft640.target == pytest.approx((100.0, 100.0 - 1.96 * 2.0, 100.0 + 1.96 * 2.0))
    assert ft640.collapse == (90.0, 88.0, 93.0)
    matrix = next(p for p in found if p.keep_best)
    assert matrix.budget is None and matrix.label == "ft · 320 ex (best)"


def test_several_seeds_use_the_t_interval_over_seeds():
    (found,) = dose.points(
        [result("ft", 40, -1.0, 90.0), result("ft", 40, -3.0, 94.0, seed=1)]
    ).values()
    (p,) = found
    half = 12.706204736  # t(0.975, 1 degree of freedom) x stderr 1.0: a point about the tuner
    assert p.seeds == 2 and p.delta == pytest.approx((-2.0, -2.0 - half, -2.0 + half))


def test_a_corpus_target_without_stderr_gets_the_bootstrap_over_its_items(tmp_path):
    """lm-eval leaves corpus chrF's stderr empty: the frontier's target interval then comes from
    the target's items in the samples file, the same resampling as the probe card's."""
    from promot_bench.evaluate.statistics import item_stderr

    pairs = [
        ["le chat noir", "le chat noir"],
        ["une maison", "la maison bleue"],
        ["bonjour", "au revoir"],
        ["le livre", "le livre rouge"],
    ]
    samples = tmp_path / "seed0.samples.jsonl"
    samples.write_text(
        "".join(
            json.dumps({"phase": phase, "task": "promot_mini_v2_nli", "doc_id": i, "pair": pair})
            + "\n"
            for phase in ("target_pretrained", "target_tuned")
            for i, pair in enumerate(pairs if phase == "target_tuned" else pairs[:1] * 4)
        )
    )
    run = result("ft", 40, -1.0, 60.0, stderr=None)
    run["target"]["tuned"]["aggregation"] = "chrf_aggregation"
    without_file = LoadedResult(run)
    run.samples_file = samples
    (p,) = next(iter(dose.points([run]).values()))
    se = item_stderr([tuple(x) for x in pairs], "chrf_aggregation")
    assert se > 1.0 and p.target == pytest.approx((60.0, 60.0 - 1.96 * se, 60.0 + 1.96 * se))
    (q,) = next(iter(dose.points([without_file]).values()))
    assert q.target == (60.0, 60.0, 60.0)  # nothing to resample: no interval is made up


def test_dose_lines_are_final_weight_cells_of_tuners_with_two_budgets(results):
    (found,) = dose.points(results).values()
    lines = dose.dose_lines(found)
    assert list(lines) == [
        "ft",
        "promot",
    ]  # pt has one budget; the keep-best cell is not a dose cell
    assert [p.examples for p in lines["ft"]] == [320, 1280, 5120]


def test_the_pareto_front_keeps_only_undominated_points(results):
    (found,) = dose.points(results).values()
    front = dose.pareto(found)
    assert [(p.tuner, p.examples, p.keep_best) for p in front] == [
        ("pt", 320, False),
        ("promot", 320, False),
        ("ft", 320, True),
        ("promot", 1280, False),
        ("promot", 5120, False),
        ("ft", 1280, False),
        ("ft", 5120, False),
    ]
    # ft at 40 steps with final weights (90, -1.0) is beaten by the keep-best cell (92, -0.8)
    assert all(not (p.tuner == "ft" and p.examples == 320 and not p.keep_best) for p in front)


def test_plots_hold_the_points_and_are_valid_pngs(results, tmp_path, monkeypatch):
    import matplotlib.image

    figures_seen = {}
    real = figures.save_png

    def keep(fig, path):
        figures_seen[path.name] = fig
        return real(fig, path)

    monkeypatch.setattr(figures, "save_png", keep)
    made = dose_plots.plots(results, tmp_path)
    (files,) = made.values()
    assert set(files) == {"dose", "frontier"}
    for path in files.values():
        assert (
            path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            and matplotlib.image.imread(path).shape[0] > 100
        )
    dose_axes = figures_seen[files["dose"].name].axes

    def data_line(ax, label):  # an errorbar's points: the first line of its container
        return next(c for c in ax.containers if c.get_label() == label).lines[0]

    ft_delta = data_line(dose_axes[0], "ft")
    assert list(ft_delta.get_xdata()) == [320, 1280, 5120] and list(ft_delta.get_ydata()) == [
        -1.0,
        -4.0,
        -12.0,
    ]
    assert list(data_line(dose_axes[1], "ft").get_ydata()) == [1.0, 20.0, 90.0]
    assert list(data_line(dose_axes[2], "promot").get_ydata()) == [85.0, 95.0, 98.0]
    assert dose_axes[0].get_xscale() == "log" and "keep-best off" in dose_axes[0].get_title()
    frontier = figures_seen[files["frontier"].name].axes[0]
    front = next(line for line in frontier.lines if line.get_label() == "Pareto front")
    assert list(front.get_xdata()) == [70.0, 85.0, 92.0, 95.0, 98.0, 99.0, 100.0]
    # each tuner's dose cells joined in budget order; the keep-best cell (ft's 92.0) not on it
    assert list(tuner_line(frontier, "ft").get_xdata()) == [90.0, 99.0, 100.0]
    assert list(tuner_line(frontier, "ft").get_ydata()) == [-1.0, -4.0, -12.0]
    assert list(tuner_line(frontier, "pt").get_xdata()) == [70.0]
    # markers: circles sized by budget, the keep-best cell a star, in the tuner's colour
    ft_colour = figures.tuner_colour("ft")
    marks = [
        c
        for c in frontier.collections
        if isinstance(c, PathCollection) and to_hex(c.get_facecolor()[0]) == to_hex(ft_colour)
    ]
    circles, stars = marks  # drawn in this order
    assert [list(o) for o in circles.get_offsets()] == [[90.0, -1.0], [99.0, -4.0], [100.0, -12.0]]
    sizes = list(circles.get_sizes())
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    assert [list(o) for o in stars.get_offsets()] == [[92.0, -0.8]]
    legend = [t.get_text() for t in frontier.get_legend().get_texts()]
    assert legend == ["ft", "promot", "pt", "Pareto front", "320", "1,280", "5,120", "keep-best"]


def tuner_line(ax, tuner):
    return next(line for line in ax.lines if line.get_label() == tuner)


def test_a_tuner_keeps_its_colour_and_titles_fit_the_figure(results, tmp_path, monkeypatch):
    """ft is drawn in one colour in every plot, whatever other tuners a plot holds; and no
    title runs past the figure's edges."""
    seen = {}
    real = figures.save_png

    def keep(fig, path):
        seen[str(path)] = fig
        return real(fig, path)

    monkeypatch.setattr(figures, "save_png", keep)
    dose_plots.plots(results, tmp_path)  # ft, promot and pt
    dose_plots.plots([r for r in results if r["tuner"] != "promot"], tmp_path / "fewer")  # ft, pt
    colours = {  # a dose curve is an errorbar's data line; a frontier path a plain line
        name: {
            c.get_label(): to_hex(c.lines[0].get_color())
            for c in fig.axes[0].containers
            if c.lines[0] is not None
        }
        | {
            line.get_label(): to_hex(line.get_color())
            for line in fig.axes[0].lines
            if line.get_label() in ("ft", "promot", "pt")
        }
        for name, fig in seen.items()
    }
    assert len({c["ft"] for c in colours.values()}) == 1 and len(colours) == 4
    assert {c["pt"] for c in colours.values() if "pt" in c} == {to_hex(figures.tuner_colour("pt"))}
    assert figures.tuner_colour("ft") != figures.tuner_colour("promot")
    assert figures.tuner_colour("someone-elses-tuner") == "tab:gray"
    for fig in seen.values():
        fig.canvas.draw()
        width = fig.bbox.width
        for ax in fig.axes:
            box = ax.title.get_window_extent()
            assert box.x0 >= 0 and box.x1 <= width


def test_the_leaderboard_shows_dose_curves_and_the_frontier(results, tmp_path):
    for number, r in enumerate(results):
        label = r["budget"]["label"] or "own"
        path = tmp_path / f"runs/tiny/mini/nli/{r['tuner']}/{label}/seed0.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(complete(r)))
    written = {p.name for p in leaderboard.build(tmp_path)}
    slug = "tiny-promot_mini_v2-1shot-cpu-small-promot_mini_v2_nli"
    assert {f"dose-{slug}.png", f"frontier-{slug}.png"} <= written
    text = (tmp_path / "LEADERBOARD.md").read_text()
    assert (
        "## Dose curves and the learning–retention frontier" in text
        and f"plots/dose-{slug}.png" in text
    )
    assert (
        text.count("data:image/png") == 0
        and "frontier" in (tmp_path / "LEADERBOARD.html").read_text()
    )


def test_two_data_versions_of_one_group_get_their_own_plots(results):
    """Cells of the same group on two data versions (tagged as the leaderboard loads them) are
    never points of one curve."""
    for i, r in enumerate(results):
        r["data_hash"] = "1111111111" if i < 3 else "2222222222"
    tables.tag_data_versions(results)
    grouped = dose.points(results)
    assert sorted(k[1] for k in grouped) == [
        "promot_mini_v2@data-11111111",
        "promot_mini_v2@data-22222222",
    ]
    assert {
        p.tuner
        for p in grouped[
            ("tiny", "promot_mini_v2@data-11111111", 1, "cpu-small", "promot_mini_v2_nli")
        ]
    } == {"ft"}
