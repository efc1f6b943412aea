"""Presets and overrides: every hyperparameter named, each owned by the loop's settings or by
one tuner's options, bad values refused with one clear reason."""

import pytest

from promot_bench.config import TrainConfig, load_preset, preset_names
from promot_bench.errors import UsageError
from promot_bench.tuners import OPTION_CLASSES, TUNERS, load_settings
from promot_bench.tuners.lora import LoRAOptions
from promot_bench.tuners.prompt import PromptOptions


def test_presets_exist_and_resolve():
    assert {"cpu-small", "cpu-study", "paper"} <= set(preset_names())
    study = load_settings("cpu-study").to_dict()  # ten checkpoints a stage, keep-best, its rule
    assert (
        study["steps"] == 10 * study["checkpoint_every"]
        and study["prompt_steps"] == 10 * study["prompt_checkpoint_every"]
    )
    assert study["keep_best"] and study["lora_steps"] == study["steps"]
    paper = load_settings("paper").to_dict()
    # The study's setting (Wang et al., ICLR 2024, arXiv 2211.00635).
    assert (
        paper["optimizer"],
        paper["batch_size"],
        paper["lr"],
        paper["prompt_lr"],
        paper["prompt_length"],
        paper["prompt_steps"],
        paper["steps"],
        paper["checkpoint_every"],
        paper["prompt_checkpoint_every"],
        paper["label_smoothing"],
        paper["dropout"],
    ) == ("adafactor", 64, 1e-3, 0.2, 100, 5000, 1000, 100, 1000, 0.1, 0.1)


def test_overrides_win_and_are_typed():
    settings = load_settings(
        "cpu-small", {"steps": "7", "lr": "1e-4", "keep_best": "false", "seed": None}
    )
    cfg = settings.train
    assert (cfg.steps, cfg.lr, cfg.keep_best, cfg.seed) == (7, 1e-4, False, 0)
    prompt = load_settings("cpu-small", {"prompt_length": "5"}).of(PromptOptions)
    assert prompt.prompt_length == 5 and prompt.prompt_lr == 0.3  # the preset's, typed


@pytest.mark.parametrize(
    "name,overrides,message",
    [
        ("huge", {}, "unknown preset 'huge'"),
        ("cpu-small", {"stepz": 3}, "unknown setting"),
        (
            "cpu-small",
            {"steps": 0},
            "^setting steps: input should be greater than or equal to 1, got 0$",
        ),
        ("cpu-small", {"steps": 2.5}, "setting steps: .*fractional part, got 2.5"),
        ("cpu-small", {"batch_size": "9" * 400}, r"setting batch_size: .*, got '9{36}\.\.\.$"),
        ("cpu-small", {"lr": float("nan")}, "setting lr: input should be a finite number, got nan"),
        ("cpu-small", {"lr": "-1e-4"}, "setting lr: input should be greater than 0, got '-1e-4'"),
        (
            "cpu-small",
            {"optimizer": "sgd"},
            "setting optimizer: .*'adamw', 'adamw-fused' or 'adafactor', got 'sgd'",
        ),
        ("cpu-small", {"steps": "many"}, "setting steps: input should be a valid integer"),
        ("cpu-small", {"keep_best": "maybe"}, "setting keep_best: input should be a valid boolean"),
        ("cpu-small", {"wise_alpha": 2}, "setting wise_alpha: .*less than or equal to 1"),
        ("cpu-small", {"dropout": 1.0}, "setting dropout: input should be less than 1"),
        ("cpu-small", {"prompt_init": "zeros"}, "'vocab', 'text' or 'random', got 'zeros'"),
        ("cpu-small", {"prompt_lr": 0}, "setting prompt_lr: input should be greater than 0"),
        ("cpu-small", {"lora_rank": 0}, "setting lora_rank: .*greater than or equal to 1"),
        ("cpu-small", {"dose": "1/4", "schedule": "linear"}, "^dose checkpoints need the constant"),
        ("cpu-small", {"prompt_steps": 1001}, "prompt_steps 1,001 is above this preset's cap"),
    ],
)
def test_bad_settings_are_refused(name, overrides, message):
    with pytest.raises(UsageError, match=message):
        load_settings(name, overrides)


def test_each_setting_has_one_owner_and_every_tuner_s_options_are_registered():
    owners = [TrainConfig, *OPTION_CLASSES]
    names = [name for kind in owners for name in kind.model_fields]
    assert len(names) == len(set(names))  # one flat name, one meaning
    assert {t.Options for t in TUNERS.values()} - {None} == set(OPTION_CLASSES)
    assert TUNERS["ft"].Options is None and TUNERS["lora-then-ft"].Options is LoRAOptions


def test_settings_are_recorded_flat_under_the_names_set_takes():
    settings = load_settings("cpu-small", {"lora_rank": "8"})
    flat = settings.to_dict()
    assert flat["lora_rank"] == 8 and flat["batch_size"] == 8 and flat["wise_alpha"] == 0.5
    assert set(flat) == {name for k in (TrainConfig, *OPTION_CLASSES) for name in k.model_fields}
    # the stage lengths, in the order a budget label names them: model, prompt, LoRA, PEFT
    assert list(settings.stage_lengths()) == ["steps", "prompt_steps", "lora_steps", "peft_steps"]


def test_a_preset_names_tuners_keys_that_only_their_groups_know():
    with pytest.raises(UsageError, match="unknown setting.*lora_rank"):
        load_preset("cpu-small", option_classes=(PromptOptions,))  # the preset sets lora_rank
    assert load_preset("cpu-small", option_classes=OPTION_CLASSES).of(LoRAOptions).lora_rank == 4
