"""`run --save-model` on a tiny model: the saved folders load in plain transformers / PEFT and
reproduce what the runner scored (the stripped weights; the target's soft prompt or adapter)."""

import json

import pytest
import torch
from helpers.runs import options

from promot_bench import cli
from promot_bench.models import export
from promot_bench.run import printing, record, runner
from promot_bench.train.soft_prompt import SoftPrompt


def saved_run(model_dir, out, tuner, **kw):
    plan = runner.plan(options(model_dir, out, tuner=tuner, save_model=True, **kw))
    return plan, runner.execute(plan, progress=False)


def logits(model, ids, **kw):
    with torch.no_grad():
        return model(input_ids=ids, **kw).logits


@pytest.mark.parametrize("tuner", ["promot", "lora-then-ft"])
def test_saved_model_and_adapter_reproduce_the_runs_weights(
    tiny_llama_dir, tmp_path, private_cache, tuner
):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    plan, result = saved_run(tiny_llama_dir, tmp_path, tuner)
    model_dir, peft_dir = plan.folder / "seed0.model", plan.folder / "seed0.peft"
    assert model_dir.is_dir() and peft_dir.is_dir() and not (plan.work / "save").exists()
    assert result["saved"] == {
        "model": {"path": "seed0.model", "sha256": export.file_hashes(model_dir)},
        "peft": {"path": "seed0.peft", "sha256": export.file_hashes(peft_dir)},
    }
    assert json.loads(plan.result_path.read_text())["saved"] == result["saved"]
    assert "--save-model" in result["command"]
    # the weights the probes scored, as a plain transformers model
    base = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    assert record.weights_hash(base) == result["weights_sha256"]
    ids = torch.tensor([[5, 9, 12, 7, 3]])
    tuned = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(model_dir), str(peft_dir)
    ).eval()
    if tuner == "promot":  # PEFT's prompt tuning puts the saved prompt where ours went
        from safetensors.torch import load_file

        prompt = SoftPrompt(load_file(peft_dir / "adapter_model.safetensors")["prompt_embeddings"])
        assert record.tensor_hash(prompt.weight) == result["soft_prompt_sha256"]["promot_mini_nli"]
        ours = logits(
            base, None, **prompt.prepend(base, input_ids=ids, attention_mask=torch.ones_like(ids))
        )
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
    assert "finished earlier without --save-model" in printing.saved_line(result, plan)


@pytest.mark.parametrize("tuner", ["promot", "lora-then-ft"])
def test_export_re_derives_what_save_model_kept(tiny_llama_dir, tmp_path, private_cache, tuner):
    """A finished cell's model, re-trained from its result: the same files, byte for byte, as
    --save-model wrote at run time, and no scratch left behind."""
    from promot_bench.run import rederive

    plan, result = saved_run(tiny_llama_dir, tmp_path / "results", tuner)
    to = tmp_path / "exported"
    saved = rederive.export(plan.result_path, to, cli.recorded_run_options, progress=False)
    assert saved == result["saved"]
    assert sorted(p.name for p in to.iterdir()) == ["seed0.model", "seed0.peft"]


def test_export_refuses_weights_that_differ_from_the_result(
    tiny_llama_dir, tmp_path, private_cache
):
    from promot_bench.errors import RunError
    from promot_bench.run import rederive

    plan = runner.plan(options(tiny_llama_dir, tmp_path / "results", tuner="ft"))
    result = runner.execute(plan, progress=False)
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps({**result, "weights_sha256": "0" * 64}))
    with pytest.raises(RunError, match="other weights"):
        rederive.export(tampered, tmp_path / "out", cli.recorded_run_options, progress=False)
    assert list((tmp_path / "out").iterdir()) == []  # nothing written, the scratch removed
    other_code = tmp_path / "other-code.json"
    other_code.write_text(
        json.dumps({**result, "code": {**result["code"], "source_sha256": "f" * 64}})
    )
    with pytest.raises(RunError, match="other code"):
        rederive.export(other_code, tmp_path / "out2", cli.recorded_run_options, progress=False)
    assert not (tmp_path / "out2").exists()  # refused before anything was made


@pytest.mark.parametrize(
    "content, says",
    [
        (None, "no such result file"),
        ("{not json", "not JSON"),
        ('{"scores": {}}', "not a run result"),
    ],
)
def test_export_of_a_bad_result_file_is_one_line(tmp_path, capsys, content, says):
    from promot_bench import cli

    path = tmp_path / "r.json"
    if content is not None:
        path.write_text(content)
    assert cli.main(["export", str(path), "--to", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and len(err.splitlines()) == 1 and not (tmp_path / "out").exists()


def test_recorded_options_are_the_command_s_options_as_data(tmp_path):
    """A result since schema 3 records its options as data; an older one's come from its command
    line through the command line's own parser: for every kind of option both give the run's."""
    import dataclasses

    from promot_bench.run import rederive
    from promot_bench.run.options import RunOptions

    asked = RunOptions(
        tuner="lora",
        train="nli+en-fr",
        model=str(tmp_path / "my model"),
        suite="v1",
        shots=4,
        seed=7,
        preset="cpu-study-v2",
        steps=40,
        lr=2e-4,
        limit=5,
        out=tmp_path / "out",
        overrides={"batch_size": "2", "lora_r": "4"},
        eval_tasks="promot_mini_nli3,promot_mini_qa_capitals",
        include_path=[tmp_path / "yamls"],
        save_model=True,
        argv=["run", "--tuner", "lora"],
    )
    command = asked.command()
    new = {"schema_version": 3, "command": "", "options": json.loads(json.dumps(asked.to_record()))}
    old = {"schema_version": 2, "command": command}
    expected = dataclasses.replace(asked, argv=None)
    assert rederive.recorded_options(new, cli.recorded_run_options) == expected
    parsed = rederive.recorded_options(old, cli.recorded_run_options)
    assert dataclasses.replace(parsed, argv=None) == expected
