"""`wise-ft` (beyond the study; Wortsman et al. 2022): fine-tune, then interpolate in weight
space between the pretrained and the fine-tuned weights, a common forgetting baseline."""

from typing import Annotated

import torch
from pydantic import Field

from promot_bench.config import Options

from .base import FitContext, Tuned, Tuner, model_stage


class WiseOptions(Options):
    # weights = (1 - alpha) * pretrained + alpha * fine-tuned
    wise_alpha: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5


class WiseFineTuning(Tuner):
    name = "wise-ft"
    summary = "fine-tuning, then weights = (1 - alpha) * pretrained + alpha * fine-tuned"
    trains = "all model weights, then interpolated"
    attached_in_training = "nothing"
    attached_at_target_eval = "nothing"
    Options = WiseOptions

    def fit(self, ctx: FitContext) -> Tuned:
        pretrained = {name: p.detach().clone() for name, p in ctx.model.named_parameters()}
        report = ctx.train(model_stage(ctx))
        alpha = ctx.options.wise_alpha
        with torch.no_grad():
            for name, param in ctx.model.named_parameters():
                param.copy_(torch.lerp(pretrained[name], param, alpha))
        return Tuned(ctx.model, reports=[report])
