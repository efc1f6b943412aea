"""`run --save-model` on a tiny model: the saved folders load in plain transformers / PEFT and
reproduce what the runner scored (the stripped weights; the target's soft prompt or adapter)."""

import json

import pytest
import torch

from promot_bench import export, runner
from promot_bench.soft_prompt import SoftPrompt

from test_runner import options


def saved_run(model_dir, out, tuner, **kw):
    plan = runner.plan(options(model_dir, out, tuner=tuner, save_model=True, **kw))
    return plan, runner.execute(plan, progress=False)


def logits(model, ids, **kw):
    with torch.no_grad():
        return model(input_ids=ids, **kw).logits


@pytest.mark.parametrize("tuner", ["promot", "lora-then-ft"])
def test_saved_model_and_adapter_reproduce_the_runs_weights(tiny_llama_dir, tmp_path, private_cache, tuner):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    plan, result = saved_run(tiny_llama_dir, tmp_path, tuner)
    model_dir, peft_dir = plan.folder / "seed0.model", plan.folder / "seed0.peft"
    assert model_dir.is_dir() and peft_dir.is_dir() and not (plan.work / "save").exists()
    assert result["saved"] == {"model": {"path": "seed0.model", "sha256": export.file_hashes(model_dir)},
                               "peft": {"path": "seed0.peft", "sha256": export.file_hashes(peft_dir)}}
    assert json.loads(plan.result_path.read_text())["saved"] == result["saved"]
    assert "--save-model" in result["command"]
    # the weights the probes scored, as a plain transformers model
    base = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    assert runner.weights_hash(base) == result["weights_sha256"]
    ids = torch.tensor([[5, 9, 12, 7, 3]])
    tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir), str(peft_dir)).eval()
    if tuner == "promot":  # PEFT's prompt tuning puts the saved prompt where ours went
        from safetensors.torch import load_file

        prompt = SoftPrompt(load_file(peft_dir / "adapter_model.safetensors")["prompt_embeddings"])
        assert runner.tensor_hash(prompt.weight) == result["soft_prompt_sha256"]["promot_mini_nli"]
        ours = logits(base, None, **prompt.prepend(base, input_ids=ids, attention_mask=torch.ones_like(ids)))
        theirs = logits(tuned, ids, attention_mask=torch.ones_like(ids))
        assert torch.allclose(ours, theirs, atol=1e-5)
    else:  # the LoRA adapter changes the outputs; without it, the saved model is the probes' model
        assert not torch.allclose(logits(tuned, ids), logits(base, ids), atol=1e-6)
        with tuned.disable_adapter():
            assert torch.allclose(logits(tuned, ids), logits(base, ids), atol=1e-6)


def test_tuners_with_nothing_attached_save_the_model_only(tiny_llama_dir, tmp_path, private_cache):
    plan, result = saved_run(tiny_llama_dir, tmp_path, "lora")
    assert set(result["saved"]) == {"model"} and not (plan.folder / "seed0.peft").exists()


def test_several_targets_save_one_adapter_each(tiny_llama_dir, tmp_path, private_cache):
    plan, result = saved_run(tiny_llama_dir, tmp_path, "pt", train="nli+en-fr")
    for target in plan.targets:
        assert (plan.folder / "seed0.peft" / target / "adapter_config.json").is_file()


def test_a_cell_finished_without_save_model_says_so(tiny_llama_dir, tmp_path, private_cache):
    plan = runner.plan(options(tiny_llama_dir, tmp_path, tuner="ft"))
    result = runner.execute(plan, progress=False)
    assert "saved" not in result
    assert "finished earlier without --save-model" in runner.saved_line(result, plan)
