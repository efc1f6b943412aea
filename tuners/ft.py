"""`ft`: vanilla full fine-tuning — the study's baseline that loses in-context ability."""

from .base import FitContext, Tuned, Tuner, model_stage


class FineTuning(Tuner):
    name = "ft"
    summary = "vanilla full fine-tuning"
    trains = "all model weights"
    attached_in_training = "nothing"
    attached_at_target_eval = "nothing"

    def fit(self, ctx: FitContext) -> Tuned:
        return Tuned(ctx.model, reports=[ctx.train(model_stage(ctx))])
