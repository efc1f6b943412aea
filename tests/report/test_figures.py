"""What every plot shares: how it is written."""

import matplotlib.image

from promot_bench.report import figures


def test_a_title_wider_than_the_figure_is_kept_whole(tmp_path):
    # a leaderboard table's title (model · group@data · preset) is wider than a small plot
    plt = figures.pyplot()
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.barh(["ft → nli"], [-3.0])
    title = ax.set_title("smollm2-135m · promot_mini_v2@data-14f43b7e (1-shot) · cpu-study")
    fig.canvas.draw()
    title_px = title.get_window_extent().width
    path = figures.save_png(fig, tmp_path / "plot.png")
    plt.close(fig)
    width = matplotlib.image.imread(path).shape[1]
    assert title_px > 2 * 110  # the title alone is wider than the figure as drawn
    assert width >= title_px  # the saved image holds all of it
