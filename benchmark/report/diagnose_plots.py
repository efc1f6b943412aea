"""The plots of a diagnose run (`promot-bench diagnose`): per tuner and training step, the target
score, the in-context mean and the format specialization; and the gradient alignment."""

from __future__ import annotations

from pathlib import Path

from promot_bench.report.figures import pyplot, save_png


def plot(result: dict, path: Path) -> list[Path]:
    plt = pyplot()

    written = []
    panels = [
        ("target", "target score (validation, 0-shot)"),
        ("mean_score", "in-context mean (prompt stripped)"),
        (
            "mean_specialization",
            f"format specialization ({result['format']['rule']}),\n"
            "eval tasks not already in that format",
        ),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax, (key, title) in zip(axes, panels):
        for tuner, data in result["tuners"].items():
            points = [(c["step"], c[key]) for c in data["checkpoints"] if c[key] is not None]
            if points:
                ax.plot(*zip(*points), marker="o", label=tuner)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("training step (all stages)")
        ax.legend()
    fig.suptitle(
        f"{result['model']['name']}: training on {result['train']} ({result['eval_group']}, "
        f"{result['eval_limit']} items per task)",
        fontsize=11,
    )
    fig.tight_layout()
    written.append(save_png(fig, path.with_name(path.stem + "-scores.png")))
    plt.close(fig)

    groups = [g for g in result["parameter_groups"]]
    fig, axes = plt.subplots(
        1, len(result["tuners"]), figsize=(6 * len(result["tuners"]), 4), squeeze=False
    )
    for ax, (tuner, data) in zip(axes[0], result["tuners"].items()):
        for group in groups:
            points = [
                (c["step"], c["cosine"].get(group))
                for c in data["checkpoints"]
                if c["cosine"].get(group) is not None
            ]
            if points:
                ax.plot(*zip(*points), marker=".", label=group)
        ax.axhline(0, color="grey", linewidth=0.5)
        ax.set_ylim(-1.05, 1.05)
        ax.set_title(f"{tuner}: cos(grad true labels, grad shuffled labels)", fontsize=10)
        ax.set_xlabel("training step (all stages)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    written.append(save_png(fig, path.with_name(path.stem + "-cosine.png")))
    plt.close(fig)
    return written
