"""The study's ablations of ProMoT: the prompt must be trained first and then frozen."""

from .base import FitContext, Tuned, Tuner, model_stage
from .prompt import PromptOptions, new_soft_prompt, prompt_tensor


class JointTuning(Tuner):
    name = "joint"
    summary = "ablation: soft prompt and model trained together from the start"
    trains = "soft prompt and all model weights, together"
    attached_in_training = "soft prompt"
    attached_at_target_eval = "soft prompt"
    Options = PromptOptions

    def fit(self, ctx: FitContext) -> Tuned:
        prompt = new_soft_prompt(ctx)
        stage = model_stage(ctx, prompt, prompt_tensor(prompt, ctx.options.prompt_lr), name="joint")
        return Tuned(ctx.model, prompt, reports=[ctx.train(stage)])


class RandomPromptFineTuning(Tuner):
    name = "ft-random-prompt"
    summary = "ablation: fine-tuning with a fixed, never-trained random soft prompt"
    trains = "all model weights"
    attached_in_training = "random soft prompt (frozen)"
    attached_at_target_eval = "random soft prompt"
    Options = PromptOptions  # its length (the prompt is never trained)

    def fit(self, ctx: FitContext) -> Tuned:
        prompt = new_soft_prompt(ctx, init="random")
        return Tuned(ctx.model, prompt, reports=[ctx.train(model_stage(ctx, prompt))])
