"""`peft:<method>`: PEFT's weight-adapter methods as tuners. Each trains its adapter alone (the
base weights bit-identical until the merge), merges, and a run scores it end to end; its options
are checked against the method's PEFT config before anything loads."""

import pytest
import torch
from helpers.runs import PEFT_TINY, options
from helpers.runs import peft_context as context

from promot_bench.errors import UsageError
from promot_bench.models import specs
from promot_bench.run import runner
from promot_bench.train.training import Stage
from promot_bench.tuners import TUNERS, FitContext, get
from promot_bench.tuners.peft_family import (
    METHODS,
    PROMOT_METHODS,
    PROMPT_METHODS,
    PeftTuner,
    PromotPeft,
    peft_config,
)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_each_method_trains_its_adapter_alone_then_merges(
    method, tiny_llama_dir, tmp_path, monkeypatch
):
    loaded = specs.load(specs.resolve(str(tiny_llama_dir)))
    base = {k: v.detach().clone() for k, v in loaded.model.named_parameters()}
    seen = {}
    real_train = FitContext.train

    def train(ctx, stage: Stage, model=None, demonstration=""):
        # what training may change is the adapter alone: every other tensor of the wrapped
        # model (the base weights, as the method initialised them: PiSSA moves part of them
        # into its adapter) is bit-identical after the stage
        frozen = {
            k: v.detach().clone() for k, v in model.named_parameters() if k not in stage.trainable
        }
        report = real_train(ctx, stage, model, demonstration)
        after = dict(model.named_parameters())
        seen["untouched"] = all(torch.equal(after[k], v) for k, v in frozen.items())
        seen["trainable"] = set(stage.trainable)
        seen["adapter_moved"] = any(
            not torch.equal(p.detach(), stage_start[k]) for k, (p, _) in stage.trainable.items()
        )
        return report

    stage_start = {}
    real_init = Stage.__init__

    def remember(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        stage_start.update({k: t.detach().clone() for k, (t, _) in self.trainable.items()})

    monkeypatch.setattr(Stage, "__init__", remember)
    monkeypatch.setattr(FitContext, "train", train)
    tuned = get(f"peft:{method}").fit(context(loaded, tmp_path))
    assert seen["untouched"] and seen["trainable"] and seen["adapter_moved"]
    assert not any(name in base for name in seen["trainable"])  # no base weight trains
    assert tuned.reports[0].steps == 2 and all(
        torch.isfinite(torch.tensor(loss)) for _, loss in tuned.reports[0].history
    )
    merged = dict(tuned.model.named_parameters())
    assert set(merged) == set(base)  # merged: the plain model's tensors, no adapter left
    assert any(not torch.equal(merged[k], base[k]) for k in base)  # and the tuning is in them


def test_options_are_the_method_s_config_fields_checked_before_anything_loads(tmp_path):
    assert peft_config("dora", "r=8,lora_alpha=16").r == 8
    assert peft_config("dora", "").use_dora is True
    with pytest.raises(UsageError, match="LoraConfig has no field rank.*choose from"):
        peft_config("lora", "rank=8")
    with pytest.raises(UsageError, match="key=value"):
        peft_config("lora", "r8")
    plan = runner.plan  # the run refuses a bad option in one line, before the model loads
    with pytest.raises(UsageError, match="no field"):
        plan(options("unused-model", tmp_path, tuner="peft:ia3", overrides={"peft_options": "r=2"}))
    with pytest.raises(UsageError, match="unknown tuner 'peft:nope'"):
        plan(options("unused-model", tmp_path, tuner="peft:nope"))


def test_the_family_is_registered_and_named_for_the_file_system(tmp_path):
    family = [name for name in TUNERS if name.startswith("peft:")]
    assert len(family) == len(METHODS) + len(PROMPT_METHODS) and len(METHODS) >= 12
    assert {n for n in family if issubclass(TUNERS[n], PeftTuner)} == {f"peft:{m}" for m in METHODS}
    p = runner.plan(options("smollm2-135m", tmp_path, tuner="peft:dora"))
    assert p.folder.parent.name == "peft-dora"
    promot = [name for name in TUNERS if name.startswith("promot:")]
    assert len(promot) == len(PROMOT_METHODS) + len(PROMPT_METHODS) and "promot:pissa" not in promot
    assert {n for n in promot if issubclass(TUNERS[n], PromotPeft)} == {
        f"promot:{m}" for m in PROMOT_METHODS
    }
    assert runner.plan(
        options("smollm2-135m", tmp_path, tuner="promot:dora")
    ).folder.parent.name == ("promot-dora")
    with pytest.raises(UsageError, match="unknown tuner 'promot:pissa'.*promot:dora"):
        runner.plan(options("unused-model", tmp_path, tuner="promot:pissa"))


@pytest.mark.parametrize("method", PROMOT_METHODS)
def test_promot_with_each_method_trains_the_adapter_then_every_weight_with_it_frozen(
    method, tiny_llama_dir, tmp_path, monkeypatch
):
    loaded = specs.load(specs.resolve(str(tiny_llama_dir)))
    base = {k: v.detach().clone() for k, v in loaded.model.named_parameters()}
    stages = []
    real_train = FitContext.train

    def train(ctx, stage: Stage, model=None, demonstration=""):
        start = {k: v.detach().clone() for k, v in model.named_parameters()}
        report = real_train(ctx, stage, model, demonstration)
        moved = {k for k, v in model.named_parameters() if not torch.equal(v, start[k])}
        stages.append((stage.name, set(stage.trainable), moved))
        return report

    monkeypatch.setattr(FitContext, "train", train)
    tuned = get(f"promot:{method}").fit(context(loaded, tmp_path, steps="2"))
    (first, adapter, moved_first), (second, weights, moved_second) = stages
    assert (first, second) == ("peft", "model") and not adapter & weights
    assert moved_first and moved_first <= adapter  # stage 1: the adapter alone
    assert moved_second and moved_second <= weights  # stage 2: the adapter frozen
    assert len(weights) == len(base)  # every base weight trains in stage 2
    attached = dict(tuned.model.named_parameters())
    assert set(adapter) <= set(attached)  # the target is scored with the adapter
    stripped = dict(tuned.stripped().named_parameters())
    assert set(stripped) == set(base)  # the probes: the weights alone, the adapter removed
    assert any(not torch.equal(stripped[k], base[k]) for k in base)


@pytest.mark.slow
def test_a_method_runs_end_to_end_and_its_dose_lies_on_its_stage(
    tiny_llama_dir, tmp_path, private_cache
):
    plan = runner.plan(
        options(
            tiny_llama_dir,
            tmp_path,
            tuner="peft:loha",
            suite="v1",
            overrides={**PEFT_TINY, "dose": "1/2", "peft_steps": "4"},
            steps=None,
        )
    )
    result = runner.execute(plan, progress=False)
    assert result["tuner"] == "peft:loha" and result["stages"][0]["name"] == "peft"
    assert (
        result["budget"]["dose"]["steps"] == 4 and result["learning_rate"]["setting"] == "peft_lr"
    )
    (checkpoint,) = runner.dose_plans(plan)[:-1]
    assert checkpoint.result_path.is_file() and checkpoint.settings.to_dict()["peft_steps"] == 2


def test_adalora_s_regulariser_is_the_one_peft_s_own_forward_adds(tiny_llama_dir):
    """Our loop computes the loss itself, so AdaLoRA's hooks add the orthogonal regulariser
    PEFT's AdaLoraModel.forward adds to a loss it computes: the same value."""
    from peft import get_peft_model

    from promot_bench.tuners.peft_family import AdaLoraHooks

    loaded = specs.load(specs.resolve(str(tiny_llama_dir)))
    wrapped = get_peft_model(loaded.model, peft_config("adalora", "", 10))
    torch.manual_seed(0)
    for name, p in wrapped.named_parameters():  # factors far from orthogonal
        if "lora_" in name:
            p.data.normal_()
    ids = torch.tensor([[1, 5, 7, 9, 11]])
    with torch.no_grad():
        with_term = wrapped(input_ids=ids, labels=ids).loss
        plain = wrapped.base_model.model(input_ids=ids, labels=ids).loss
        ours = AdaLoraHooks(wrapped).loss_term()
    assert float(ours) > 0.1 and float(with_term - plain) == pytest.approx(float(ours), rel=1e-5)


def _adalora_fit(loaded, folder, steps: int, **overrides):
    torch.manual_seed(0)  # the adapter's initialisation, as the runner seeds it
    ctx = context(loaded, folder, peft_steps=str(steps), **overrides)
    return get("peft:adalora").fit(ctx)


def test_adalora_allocates_its_ranks_and_a_resumed_stage_ends_as_an_uninterrupted_one(
    tiny_llama_dir, tmp_path, monkeypatch
):
    """Its hooks run at every step (the allocator's scores move, ranks are masked towards the
    target) and its state rides in the checkpoints: a stage stopped after step 2 and resumed
    ends bit-identical to one that ran its 4 steps at once."""
    from promot_bench.train import training

    whole = _adalora_fit(specs.load(specs.resolve(str(tiny_llama_dir))), tmp_path / "a", 4)
    calls = []
    real = training._step

    def stop_after_two(run, *args):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(args[-2])
        return real(run, *args)

    monkeypatch.setattr(training, "_step", stop_after_two)
    with pytest.raises(KeyboardInterrupt):
        _adalora_fit(specs.load(specs.resolve(str(tiny_llama_dir))), tmp_path / "b", 4)
    monkeypatch.setattr(training, "_step", real)
    assert (tmp_path / "b/peft/latest.pt").is_file()
    state = torch.load(tmp_path / "b/peft/latest.pt", weights_only=False)["hooks"]
    assert state["exp_avg_ipt"] and all(v.abs().sum() > 0 for v in state["exp_avg_ipt"].values())
    resumed = _adalora_fit(specs.load(specs.resolve(str(tiny_llama_dir))), tmp_path / "b", 4)
    assert resumed.reports[0].resumed_from == 2
    a, b = dict(whole.model.named_parameters()), dict(resumed.model.named_parameters())
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_adalora_refuses_a_dose_of_its_own_stage_and_other_processes(tmp_path):
    with pytest.raises(UsageError, match="AdaLoRA's rank schedule"):
        runner.plan(
            options("unused-model", tmp_path, tuner="peft:adalora", overrides={"dose": "1/2"})
        )
    # ProMoT's dose lies on its model stage: its AdaLoRA stage keeps its own length
    runner.plan(
        options("smollm2-135m", tmp_path, tuner="promot:adalora", overrides={"dose": "1/2"})
    )
