"""The tuners, by the names users type. This registry is the only place that knows them all;
the training loop and the runner never branch on a tuner's name."""

from promot_bench import config
from promot_bench.errors import UsageError, choices_text

from .ablations import JointTuning, RandomPromptFineTuning
from .base import Attachment, FitContext, Tuned, Tuner
from .ft import FineTuning
from .lora import LoRA, LoRAOptions, LoRAThenFineTuning
from .peft_family import PeftOptions
from .peft_family import tuners as peft_tuners
from .peft_prompts import tuners as peft_prompt_tuners
from .promot import ProMoT, ProMoTOneShot
from .prompt import PromptOptions
from .pt import PromptTuning
from .wise_ft import WiseFineTuning, WiseOptions

TUNERS: dict[str, type[Tuner]] = {
    cls.name: cls
    for cls in (
        FineTuning,
        PromptTuning,
        ProMoT,
        ProMoTOneShot,
        JointTuning,
        RandomPromptFineTuning,
        LoRA,
        LoRAThenFineTuning,
        WiseFineTuning,
    )
}
TUNERS.update(peft_tuners())  # peft:<method>, every PEFT weight-adapter method
TUNERS.update(peft_prompt_tuners())  # and its prompt-learning methods

# Every tuner's options class, in the order a budget label lists their stage lengths.
OPTION_CLASSES = (PromptOptions, LoRAOptions, WiseOptions, PeftOptions)


def load_settings(preset: str, overrides: dict | None = None) -> config.Settings:
    """A preset with `--set` overrides: the loop's settings and every tuner's options."""
    return config.load_preset(preset, overrides, OPTION_CLASSES)


def get(name: str) -> Tuner:
    if name not in TUNERS:
        raise UsageError(f"unknown tuner '{name}': choose from {choices_text(TUNERS)}")
    return TUNERS[name]()


__all__ = [
    "OPTION_CLASSES",
    "TUNERS",
    "get",
    "load_settings",
    "Attachment",
    "FitContext",
    "Tuned",
    "Tuner",
]
