"""Each tuner changes exactly what it should, on tiny models; resume, keep-best and NaN handling."""

import math

import pytest
import torch
from helpers.runs import EXAMPLES

from promot_bench.errors import RunError
from promot_bench.models import specs
from promot_bench.train import loss, training
from promot_bench.train.train_data import Example
from promot_bench.tuners import TUNERS, FitContext, get, load_settings


def tiny_cfg(**overrides):
    values = dict(
        batch_size=4,
        steps=3,
        prompt_steps=3,
        lora_steps=3,
        checkpoint_every=2,
        prompt_checkpoint_every=2,
        prompt_length=4,
        lr=1e-2,
        prompt_lr=1e-1,
        lora_lr=1e-2,
        max_length=64,
        keep_best=False,
    )
    values.update(overrides)
    return load_settings("cpu-small", values)


def context(name, loaded, examples, workdir, settings=None, **kw) -> FitContext:
    """A FitContext for tuner `name`: the loop's settings and that tuner's own options."""
    settings = settings or tiny_cfg()
    return FitContext(
        loaded.model,
        loaded.tokenizer,
        examples,
        settings.train,
        workdir,
        progress=False,
        options=settings.of(TUNERS[name].Options),
        **kw,
    )


def fit(name, model_dir, tmp_path, **overrides):
    loaded = specs.load(specs.resolve(str(model_dir)))
    before = {k: v.detach().clone() for k, v in loaded.model.named_parameters()}
    ctx = context(name, loaded, EXAMPLES, tmp_path / name, tiny_cfg(**overrides))
    return get(name).fit(ctx), before


def changed(model, before):
    return {k for k, v in model.named_parameters() if not torch.equal(v, before[k])}


@pytest.mark.parametrize("fixture", ["tiny_llama_dir", "tiny_t5_dir"])
def test_ft_changes_every_weight_tensor(fixture, request, tmp_path):
    tuned, before = fit("ft", request.getfixturevalue(fixture), tmp_path)
    assert tuned.soft_prompt is None and tuned.stripped() is tuned.model
    assert changed(tuned.model, before) == set(before)


@pytest.mark.parametrize("fixture", ["tiny_llama_dir", "tiny_t5_dir"])
def test_pt_leaves_every_model_weight_bit_identical(fixture, request, tmp_path):
    tuned, before = fit("pt", request.getfixturevalue(fixture), tmp_path)
    assert changed(tuned.model, before) == set()
    initial = training.read_safetensors(tmp_path / "pt" / "prompt" / "final.safetensors")
    assert tuned.soft_prompt is not None
    initial_prompt = type(tuned.soft_prompt).from_vocab(tuned.model, 4, 0)  # weights unchanged
    assert not torch.equal(next(tuned.soft_prompt.parameters()), next(initial_prompt.parameters()))
    assert torch.equal(initial["soft_prompt"], next(tuned.soft_prompt.parameters()).detach())


@pytest.mark.parametrize("fixture", ["tiny_llama_dir", "tiny_t5_dir"])
def test_promot_stage2_keeps_the_prompt_and_changes_the_weights(fixture, request, tmp_path):
    tuned, before = fit("promot", request.getfixturevalue(fixture), tmp_path)
    after_stage1 = training.read_safetensors(tmp_path / "promot" / "prompt" / "final.safetensors")
    assert torch.equal(after_stage1["soft_prompt"], next(tuned.soft_prompt.parameters()).detach())
    assert changed(tuned.model, before) == set(before)
    assert [r.name for r in tuned.reports] == ["prompt", "model"]
    # Stripping means the weights alone: the plain model class, nothing prepended.
    assert type(tuned.stripped()) is type(tuned.model)


def test_promot_cotrain_changes_the_prompt_in_stage2(tiny_llama_dir, tmp_path, monkeypatch):
    from promot_bench.tuners.promot import ProMoT

    monkeypatch.setattr(ProMoT, "cotrain_prompt", True)
    tuned, _ = fit("promot", tiny_llama_dir, tmp_path)
    after_stage1 = training.read_safetensors(tmp_path / "promot" / "prompt" / "final.safetensors")
    assert not torch.equal(
        after_stage1["soft_prompt"], next(tuned.soft_prompt.parameters()).detach()
    )


def test_promot_1shot_puts_one_demonstration_after_the_prompt(tiny_llama_dir, tmp_path):
    tuned, _ = fit("promot-1shot", tiny_llama_dir, tmp_path)
    assert tuned.demonstration == f"{EXAMPLES[0].prompt}{EXAMPLES[0].completion}\n\n"
    assert tuned.soft_prompt is not None


def test_joint_trains_prompt_and_weights_together(tiny_llama_dir, tmp_path):
    tuned, before = fit("joint", tiny_llama_dir, tmp_path)
    pristine = specs.load(specs.resolve(str(tiny_llama_dir))).model
    initial = type(tuned.soft_prompt).from_vocab(pristine, 4, 0)
    assert not torch.equal(next(initial.parameters()), next(tuned.soft_prompt.parameters()))
    assert changed(tuned.model, before) == set(before)


def test_random_prompt_stays_fixed(tiny_llama_dir, tmp_path):
    tuned, before = fit("ft-random-prompt", tiny_llama_dir, tmp_path)
    pristine = specs.load(specs.resolve(str(tiny_llama_dir))).model
    fresh = type(tuned.soft_prompt).random(pristine, 4, 0)
    assert torch.equal(next(fresh.parameters()), next(tuned.soft_prompt.parameters()))
    assert changed(tuned.model, before) == set(before)


def test_lora_merges_and_changes_only_adapted_layers(tiny_llama_dir, tmp_path):
    tuned, before = fit("lora", tiny_llama_dir, tmp_path)
    names = dict(tuned.model.named_parameters())
    assert not any("lora_" in n for n in names)
    touched = changed(tuned.model, before)
    assert touched and all(n.endswith(("q_proj.weight", "v_proj.weight")) for n in touched)


def test_lora_then_ft_evaluates_without_the_adapter(tiny_llama_dir, tmp_path):
    tuned, before = fit("lora-then-ft", tiny_llama_dir, tmp_path)
    assert any("lora_" in n for n, _ in tuned.model.named_parameters())  # target eval: attached
    stripped = tuned.stripped()
    names = dict(stripped.named_parameters())
    assert not any("lora_" in n for n in names)
    assert set(names) == set(before)
    assert changed(stripped, before) == set(before)  # stage 2 tuned every base weight


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_wise_ft_interpolates(alpha, tiny_llama_dir, tmp_path):
    tuned, before = fit("wise-ft", tiny_llama_dir, tmp_path / str(alpha), wise_alpha=alpha)
    plain, _ = fit("ft", tiny_llama_dir, tmp_path / f"ft{alpha}")
    reference = before if alpha == 0.0 else dict(plain.model.named_parameters())
    for name, param in tuned.model.named_parameters():
        assert torch.allclose(param, reference[name], atol=1e-7), name


def test_resume_after_a_kill_ends_with_the_same_weights(tiny_llama_dir, tmp_path, monkeypatch):
    reference, _ = fit("ft", tiny_llama_dir, tmp_path / "whole", steps=5, schedule="linear")

    real_write = training.write_checkpoint
    calls = []

    def die_after_first_checkpoint(path, state):
        real_write(path, state)
        calls.append(state["step"])
        raise KeyboardInterrupt  # stands in for a kill right after the checkpoint

    monkeypatch.setattr(training, "write_checkpoint", die_after_first_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        fit("ft", tiny_llama_dir, tmp_path / "killed", steps=5, schedule="linear")
    assert calls == [2]
    monkeypatch.setattr(training, "write_checkpoint", real_write)
    resumed, _ = fit("ft", tiny_llama_dir, tmp_path / "killed", steps=5, schedule="linear")
    assert resumed.reports[0].resumed_from == 2
    for (name, a), (_, b) in zip(
        reference.model.named_parameters(), resumed.model.named_parameters()
    ):
        assert torch.equal(a, b), name
    # A finished stage is not retrained when the run is repeated.
    again, _ = fit("ft", tiny_llama_dir, tmp_path / "killed", steps=5, schedule="linear")
    assert again.reports[0].history == resumed.reports[0].history
    for (name, a), (_, b) in zip(
        reference.model.named_parameters(), again.model.named_parameters()
    ):
        assert torch.equal(a, b), name


def test_keep_best_restores_the_best_checkpoint(tiny_llama_dir, tmp_path):
    loaded = specs.load(specs.resolve(str(tiny_llama_dir)))
    scores = iter([0.9, 0.1, 0.2])  # steps 2, 4, 5: the first checkpoint is the best
    ctx = context(
        "ft",
        loaded,
        EXAMPLES,
        tmp_path,
        tiny_cfg(steps=5, keep_best=True),
        score_validation=lambda model, prompt, demonstration: next(scores),
    )
    tuned = get("ft").fit(ctx)
    assert (tuned.reports[0].best_step, tuned.reports[0].best_score) == (2, 0.9)
    best = training.read_safetensors(tmp_path / "model" / "best.safetensors")
    for name, param in tuned.model.named_parameters():
        assert torch.equal(param, best[f"model.{name}"])


def test_nan_loss_stops_with_a_clear_message(tiny_llama_dir, tmp_path):
    with pytest.raises(RunError, match=r"loss became (nan|inf).*lower learning rate"):
        fit("ft", tiny_llama_dir, tmp_path, lr=1e30, steps=6)
    assert not (tmp_path / "ft" / "model" / "done.json").exists()


def test_losses_are_finite_and_fall_on_a_learnable_task(tiny_llama_dir, tmp_path):
    tuned, _ = fit("ft", tiny_llama_dir, tmp_path, steps=12, lr=3e-3)
    losses = [loss for _, loss in tuned.reports[0].history]
    assert all(math.isfinite(x) for x in losses)
    assert sum(losses[-3:]) < sum(losses[:3])


def test_promot_1shot_target_evaluation_sees_the_training_text():
    """The demonstration prefix reaches the model at target evaluation exactly as in training."""
    from promot_bench.evaluate import evaluation
    from promot_bench.train import task_data
    from promot_bench.tuners.promot import ProMoTOneShot

    manager = evaluation.task_manager()
    task = task_data.load_task("promot_mini_nli", manager)
    examples = task_data.training_examples(task)
    ctx = FitContext(None, None, examples, tiny_cfg().train, None)
    prefix = ProMoTOneShot().demonstration(ctx)
    doc = task.test_docs()[0]
    rendered = task.fewshot_context(
        doc, 0, system_instruction=prefix
    )  # what evaluation.evaluate sends
    assert rendered == prefix + task.doc_to_text(doc)
    assert prefix == f"{examples[0].prompt} {examples[0].completion.strip()}\n\n"


def test_multi_task_promot_trains_one_prompt_per_task_then_mixed_batches(
    tiny_llama_dir, tmp_path, monkeypatch
):
    from promot_bench.train.soft_prompt import PromptSet

    translate = [
        Example(f"Translate English to French: word {i}", f" mot {i}", "t") for i in range(8)
    ]
    mixed = [Example(ex.prompt, ex.completion, "nli") for ex in EXAMPLES] + translate
    loaded = specs.load(specs.resolve(str(tiny_llama_dir)))
    before = {k: v.detach().clone() for k, v in loaded.model.named_parameters()}
    seen = []
    real = loss.compute_loss
    monkeypatch.setattr(
        loss,
        "compute_loss",
        lambda m, b, p=None, *a: seen.append(set(b["tasks"])) or real(m, b, p, *a),
    )
    tuned = get("promot").fit(context("promot", loaded, mixed, tmp_path))
    assert isinstance(tuned.soft_prompt, PromptSet) and tuned.soft_prompt.tasks == ["nli", "t"]
    stage1 = training.read_safetensors(tmp_path / "prompt" / "final.safetensors")
    for task in ("nli", "t"):  # both prompts trained in stage 1 and frozen in stage 2
        assert torch.equal(stage1[f"soft_prompt.{task}"], tuned.soft_prompt[task].weight.detach())
    assert not torch.equal(tuned.soft_prompt["nli"].weight, tuned.soft_prompt["t"].weight)
    assert changed(tuned.model, before) == set(before)
    assert any(tasks == {"nli", "t"} for tasks in seen)  # batches mix the tasks
    with pytest.raises(Exception, match="single target"):
        get("promot-1shot").fit(context("promot-1shot", loaded, mixed, tmp_path / "x"))
