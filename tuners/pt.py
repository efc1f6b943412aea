"""`pt`: prompt tuning — a soft prompt trains, the model stays frozen (so stripping the prompt
gives back the pretrained model exactly)."""

from .base import FitContext, Tuned, Tuner
from .prompt import PromptOptions, new_soft_prompt, prompt_stage


class PromptTuning(Tuner):
    name = "pt"
    summary = "prompt tuning: a soft prompt trains, the model is frozen"
    trains = "soft prompt"
    attached_in_training = "soft prompt"
    attached_at_target_eval = "soft prompt"
    Options = PromptOptions
    dose_setting = "prompt_steps"
    lr_setting = "prompt_lr"
    probes_attached = True

    def fit(self, ctx: FitContext) -> Tuned:
        prompt = new_soft_prompt(ctx)
        return Tuned(ctx.model, prompt, reports=[ctx.train(prompt_stage(ctx, prompt))])
