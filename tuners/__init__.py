"""The tuners, by the names users type. This registry is the only place that knows them all;
the training loop and the runner never branch on a tuner's name."""

from promot_bench.errors import UsageError, choices_text

from .ablations import JointTuning, RandomPromptFineTuning
from .base import Attachment, FitContext, Tuned, Tuner
from .ft import FineTuning
from .lora import LoRA, LoRAThenFineTuning
from .promot import ProMoT, ProMoTOneShot
from .pt import PromptTuning
from .wise_ft import WiseFineTuning

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


def get(name: str) -> Tuner:
    if name not in TUNERS:
        raise UsageError(f"unknown tuner '{name}': choose from {choices_text(TUNERS)}")
    return TUNERS[name]()


__all__ = ["TUNERS", "get", "Attachment", "FitContext", "Tuned", "Tuner"]
