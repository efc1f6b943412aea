"""`promot` and `promot-1shot`: the study's two-stage method.

Stage 1 trains a soft prompt on the target task (model frozen); stage 2 fine-tunes the model
with that prompt attached and frozen, so the prompt absorbs the task's format and the weights
specialise less. The prompt is used for the target task only. `cotrain_prompt` also trains the
prompt in stage 2 (the study found this worse). `promot-1shot` additionally places one
natural-language demonstration from the training data after the soft prompt.
"""

from dataclasses import replace

from promot_bench.errors import UsageError
from promot_bench.train.train_data import with_demonstration

from .base import FitContext, Tuned, Tuner, model_stage
from .prompt import PromptOptions, new_soft_prompt, prompt_stage, prompt_tensor


class ProMoT(Tuner):
    name = "promot"
    summary = "ProMoT: prompt tuning, then fine-tuning with the frozen prompt attached"
    trains = "soft prompt (stage 1), then all model weights (stage 2)"
    attached_in_training = "soft prompt"
    attached_at_target_eval = "soft prompt"
    Options = PromptOptions
    cotrain_prompt = False

    def demonstration(self, ctx: FitContext) -> str:
        return ""

    def fit(self, ctx: FitContext) -> Tuned:
        demonstration = self.demonstration(ctx)
        if demonstration:  # the first example is the demonstration: it trains no more
            ctx = replace(ctx, examples=with_demonstration(ctx.examples[1:], demonstration))
        prompt = new_soft_prompt(ctx)
        first = ctx.train(prompt_stage(ctx, prompt), demonstration=demonstration)
        extra = prompt_tensor(prompt, ctx.options.prompt_lr) if self.cotrain_prompt else None
        second = ctx.train(model_stage(ctx, prompt, extra), demonstration=demonstration)
        return Tuned(ctx.model, prompt, demonstration, reports=[first, second])


class ProMoTOneShot(ProMoT):
    name = "promot-1shot"
    summary = "ProMoT with one natural-language demonstration after the soft prompt"
    attached_in_training = "soft prompt + one demonstration"
    attached_at_target_eval = "soft prompt + one demonstration"
    multi_task = False  # one demonstration belongs to one task

    def demonstration(self, ctx: FitContext) -> str:
        if len(ctx.tasks) > 1:
            raise UsageError(
                "promot-1shot attaches one demonstration of one task: train it on a single "
                "target (multi-task training: use promot)"
            )
        # The first training example (the data builders shuffle deterministically) serves as the
        # demonstration; it is left out of the training items so it is never its own answer.
        first = ctx.examples[0]  # its completion starts with the task's target delimiter
        return f"{first.prompt}{first.completion}\n\n"
