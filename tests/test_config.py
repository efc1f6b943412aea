"""Presets and overrides: every hyperparameter named, bad values refused with one clear reason."""

import pytest

from promot_bench.config import load_preset, preset_names
from promot_bench.errors import UsageError


def test_presets_exist_and_resolve():
    assert {"cpu-small", "cpu-study", "paper"} <= set(preset_names())
    study = load_preset("cpu-study")  # ten checkpoints per stage, keep-best, as its rule states
    assert (
        study.steps == 10 * study.checkpoint_every
        and study.prompt_steps == 10 * study.prompt_checkpoint_every
    )
    assert study.keep_best and study.lora_steps == study.steps
    paper = load_preset("paper")
    # The study's setting (Wang et al., ICLR 2024, arXiv 2211.00635).
    assert (
        paper.optimizer,
        paper.batch_size,
        paper.lr,
        paper.prompt_lr,
        paper.prompt_length,
        paper.prompt_steps,
        paper.steps,
        paper.checkpoint_every,
        paper.prompt_checkpoint_every,
        paper.label_smoothing,
        paper.dropout,
    ) == ("adafactor", 64, 1e-3, 0.2, 100, 5000, 1000, 100, 1000, 0.1, 0.1)


def test_overrides_win_and_are_typed():
    cfg = load_preset("cpu-small", {"steps": "7", "lr": "1e-4", "keep_best": "false", "seed": None})
    assert (cfg.steps, cfg.lr, cfg.keep_best, cfg.seed) == (7, 1e-4, False, 0)


@pytest.mark.parametrize(
    "name,overrides,message",
    [
        ("huge", {}, "unknown preset 'huge'"),
        ("cpu-small", {"stepz": 3}, "unknown setting"),
        ("cpu-small", {"steps": 0}, "steps must be at least 1"),
        ("cpu-small", {"lr": float("nan")}, "lr must be a positive finite"),
        ("cpu-small", {"optimizer": "sgd"}, "adamw, adafactor"),
        ("cpu-small", {"steps": "many"}, "expected int"),
        ("cpu-small", {"wise_alpha": 2}, "wise_alpha"),
        ("cpu-small", {"dropout": 1.0}, "dropout"),
    ],
)
def test_bad_settings_are_refused(name, overrides, message):
    with pytest.raises(UsageError, match=message):
        load_preset(name, overrides)
