"""`peft:p_tuning`, `peft:prefix_tuning` and their `promot:` forms: PEFT's encoder trains with the
model frozen, its tokens are PEFT's own (our attached forward equals PeftModel's), and once
trained they are a plain soft prompt (P-tuning) or key/value prefix (prefix tuning) for the
target; ProMoT's second stage trains every weight with them frozen."""

import pytest
import torch
from helpers.runs import PEFT_TINY, options
from helpers.runs import peft_context as context
from helpers.tiny_models import build_tiny_gemma3

from promot_bench.errors import UsageError
from promot_bench.models import specs
from promot_bench.run import runner
from promot_bench.train.kv_prefix import KVPrefix
from promot_bench.train.soft_prompt import SoftPrompt
from promot_bench.train.training import Stage
from promot_bench.tuners import FitContext, get
from promot_bench.tuners.peft_prompts import new_prompt

METHODS = {"p_tuning": SoftPrompt, "prefix_tuning": KVPrefix}  # what each one's tokens become


@pytest.mark.parametrize(
    "method, arch", [("p_tuning", "llama"), ("prefix_tuning", "llama"), ("prefix_tuning", "gemma3")]
)
def test_our_attached_forward_is_peft_s_own(method, arch, tiny_llama_dir, tmp_path):
    """The tokens attached as our loop and evaluation attach them give the logits PEFT's own
    forward gives, for the same encoder (Gemma 3: PEFT builds its prefix cache its own way)."""
    folder = tiny_llama_dir if arch == "llama" else build_tiny_gemma3(tmp_path / "gemma3")
    loaded = specs.load(specs.resolve(str(folder)))
    prompt = new_prompt(context(loaded, tmp_path), method)
    wrapped = prompt._wrapped[0]
    ids = loaded.tokenizer(["Paris is in France. answer:"], return_tensors="pt")["input_ids"]
    skip = prompt.output_positions  # P-tuning's tokens are columns of the output, a prefix's not
    with torch.no_grad():
        theirs = wrapped(input_ids=ids).logits[:, skip:]
        ours = loaded.model(**prompt.prepend(loaded.model, ids)).logits[:, skip:]
        frozen = prompt.frozen()
        kept = loaded.model(**frozen.prepend(loaded.model, ids)).logits[:, skip:]
    assert prompt.length == 20 and ours.shape == theirs.shape == (
        1,
        ids.shape[1],
        len(loaded.tokenizer),
    )
    assert torch.allclose(ours, theirs, atol=1e-6) and torch.equal(ours, kept)
    assert isinstance(frozen, METHODS[method]) and frozen.init == method


def fit_spied(tuner: str, folder, tmp_path, monkeypatch, **overrides):
    """The tuner fitted on the tiny model: its weights before, each stage it trained (as
    `spy_on_stages` records them) and what it returned."""
    loaded = specs.load(specs.resolve(str(folder)))
    base = {k: v.detach().clone() for k, v in loaded.model.named_parameters()}
    stages = spy_on_stages(monkeypatch)
    return base, stages, get(tuner).fit(context(loaded, tmp_path, **overrides))


def spy_on_stages(monkeypatch) -> list:
    """Each stage the fit trains, as (name, names of what trains, the attachment's tensor
    before training, the attachment)."""
    stages = []
    real_train = FitContext.train

    def train(ctx, stage: Stage, model=None, demonstration=""):
        start = stage.soft_prompt.weight.detach().clone()
        report = real_train(ctx, stage, model, demonstration)
        stages.append((stage.name, set(stage.trainable), start, stage.soft_prompt))
        return report

    monkeypatch.setattr(FitContext, "train", train)
    return stages


@pytest.mark.parametrize("method", METHODS)
def test_the_method_trains_its_encoder_alone_and_attaches_its_tokens(
    method, tiny_llama_dir, tmp_path, monkeypatch
):
    base, stages, tuned = fit_spied(f"peft:{method}", tiny_llama_dir, tmp_path, monkeypatch)
    ((name, trainable, start, trained),) = stages
    assert name == "peft" and trainable and all(k.startswith(f"{method}.") for k in trainable)
    assert all(torch.equal(v, base[k]) for k, v in tuned.model.named_parameters())
    assert isinstance(tuned.soft_prompt, METHODS[method]) and tuned.soft_prompt.length == 20
    assert not torch.equal(tuned.soft_prompt.weight, start)  # the encoder learned
    assert torch.equal(tuned.soft_prompt.weight, trained.weight.detach())
    assert tuned.stripped() is tuned.model  # the probes: the pretrained weights, unchanged


@pytest.mark.parametrize("method", METHODS)
def test_promot_with_the_method_trains_every_weight_with_the_tokens_frozen(
    method, tiny_llama_dir, tmp_path, monkeypatch
):
    base, stages, tuned = fit_spied(
        f"promot:{method}", tiny_llama_dir, tmp_path, monkeypatch, steps="2"
    )
    (first, *_), (second, _, _, attached) = stages
    assert (first, second) == ("peft", "model") and attached is tuned.soft_prompt
    moved = {k for k, v in tuned.model.named_parameters() if not torch.equal(v, base[k])}
    assert moved == set(base)  # every weight trained in stage 2
    assert [r.name for r in tuned.reports] == ["peft", "model"]


def test_p_tuning_s_options_are_its_config_s_and_one_target_at_a_time(tmp_path):
    with pytest.raises(UsageError, match="PromptEncoderConfig has no field rank"):
        runner.plan(
            options("unused", tmp_path, tuner="peft:p_tuning", overrides={"peft_options": "rank=2"})
        )
    with pytest.raises(UsageError, match="peft:p_tuning"):
        runner.plan(options("unused", tmp_path, tuner="peft:p_tuning", train="nli+en-fr"))


def test_prefix_tuning_refuses_an_encoder_decoder_before_anything_is_written(tiny_t5_dir, tmp_path):
    plan = runner.plan(options(tiny_t5_dir, tmp_path, tuner="peft:prefix_tuning"))
    with pytest.raises(UsageError, match="decoder-only models only"):
        runner.execute(plan, progress=False)
    assert not plan.folder.exists()


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_the_method_runs_end_to_end(method, tiny_llama_dir, tmp_path, private_cache):
    plan = runner.plan(
        options(
            tiny_llama_dir,
            tmp_path,
            tuner=f"peft:{method}",
            # keep-best: the target's validation with the live encoder's tokens
            overrides={**PEFT_TINY, "keep_best": "true"},
            steps=None,
        )
    )
    result = runner.execute(plan, progress=False)
    assert result["tuner"] == f"peft:{method}" and result["stages"][0]["name"] == "peft"
    assert result["stages"][0]["best_step"] in (1, 2) and result["stages"][0]["validation"]
    assert result["target"]["attached"]["soft_prompt"] is True
    assert result["target"]["attached"]["kv_prefix"] is (method == "prefix_tuning")
    assert result["after_is_baseline"] is True  # the model is frozen: the probes are its before
    # and the probes with its tokens attached, as PEFT's comparison scores prompt methods
    assert set(result["after_attached"]["scores"]) == set(result["before"])
