"""Protocol v2's savings and pairing: the dose from checkpoints of one run (each checkpoint what
a separate run of its length gives), a "before" pass shared by every seed, and common batches
for ft's and ProMoT's model stages."""

import json

import pytest
import torch

from promot_bench import config
from promot_bench.errors import RunError, UsageError
from promot_bench.evaluate import evaluation
from promot_bench.models import specs
from promot_bench.run import runner
from promot_bench.run.options import RunOptions
from promot_bench.train.train_data import Example, StageData
from promot_bench.train.training import Stage, run_stage

TINY = {
    "batch_size": "2",
    "prompt_length": "3",
    "checkpoint_every": "2",
    "prompt_checkpoint_every": "2",
    "keep_best": "false",
}


def options(model_dir, out, tuner="ft", seed=0, steps=4, dose="1/2", **overrides):
    return RunOptions(
        tuner=tuner,
        train="nli",
        model=str(model_dir),
        steps=steps,
        limit=2,
        out=out,
        seed=seed,
        suite="v1",
        overrides={**TINY, "dose": dose, **overrides},
    )


def test_the_v2_preset_plans_its_checkpoints_on_each_tuner_s_last_stage(tmp_path):
    def budgets(tuner, train="nli"):
        p = runner.plan(RunOptions(tuner=tuner, train=train, out=tmp_path, preset="cpu-study-v2"))
        return [(q.budget, q.settings.stage_lengths(), q.dose_of) for q in runner.dose_plans(p)]

    ft = budgets("ft")
    assert [b for b, _, _ in ft] == ["checkpoint28", "checkpoint112", None]
    assert [lengths["steps"] for _, lengths, _ in ft] == [28, 112, 448]
    assert [of for _, _, of in ft] == [448, 448, None]
    # ProMoT's prompt stage runs whole at every checkpoint of its model stage
    assert [(lengths["steps"], lengths["prompt_steps"]) for _, lengths, _ in budgets("promot")] == [
        (28, 320),
        (112, 320),
        (448, 320),
    ]
    assert [lengths["prompt_steps"] for _, lengths, _ in budgets("pt")] == [20, 80, 320]
    assert [lengths["lora_steps"] for _, lengths, _ in budgets("lora")] == [28, 112, 448]
    # sequential training has no one last stage: its own budget only
    assert [b for b, _, _ in budgets("ft", "nli-then-en-fr")] == [None]
    p = runner.plan(RunOptions(tuner="ft", train="nli", out=tmp_path, preset="cpu-study-v2"))
    checkpoint = runner.dose_plans(p)[0]
    assert checkpoint.result_path == tmp_path / (
        "runs/smollm2-135m/mini/nli/ft/cpu-study-v2-checkpoint28/seed0.json"
    )


@pytest.mark.parametrize(
    "value,message",
    [
        ("1/2,1/2", "twice"),
        ("0", "outside the budget"),
        ("1", "outside the budget"),
        ("3/2", "outside the budget"),
        ("half", "fractions"),
    ],
)
def test_bad_dose_checkpoints_are_refused(tmp_path, value, message):
    with pytest.raises(UsageError, match=message):
        runner.plan(RunOptions(tuner="ft", train="nli", out=tmp_path, overrides={"dose": value}))


def test_dose_checkpoints_need_a_budget_free_schedule_and_final_weights(tmp_path):
    def plan(**overrides):
        return runner.plan(
            RunOptions(
                tuner="ft", train="nli", out=tmp_path, overrides={"dose": "1/4", **overrides}
            )
        )

    with pytest.raises(UsageError, match="constant schedule"):
        plan(schedule="linear", keep_best="false")
    with pytest.raises(UsageError, match="keep_best=false"):
        plan(keep_best="true")
    plan(keep_best="false", warmup_steps="2")  # warm-up depends on the step alone: allowed


def examples(n=6):
    return [Example(f"Is {i} even? answer:", " True" if i % 2 == 0 else " False") for i in range(n)]


def train(llama, folder, steps, extendable=False):
    model, tokenizer = llama.model, llama.tokenizer
    torch.manual_seed(0)
    stage = Stage(
        "model",
        steps,
        2,
        {f"model.{n}": (p, 1e-3) for n, p in model.named_parameters()},
        extendable=extendable,
    )
    cfg = config.TrainConfig(batch_size=2, seed=3, keep_best=False, checkpoint_every=2)
    report = run_stage(stage, model, StageData(tokenizer, examples(), cfg), folder, progress=False)
    return report, {n: p.detach().clone() for n, p in model.named_parameters()}


def test_a_stage_continued_from_its_checkpoint_equals_one_run_of_that_length(
    tiny_llama_dir, tmp_path
):
    fresh = specs.load_from_path(tiny_llama_dir)
    start = {n: p.detach().clone() for n, p in fresh.model.named_parameters()}
    whole, whole_weights = train(fresh, tmp_path / "whole", 6)

    path = specs.load_from_path(tiny_llama_dir)
    short, _ = train(path, tmp_path / "dose", 2, extendable=True)
    assert (tmp_path / "dose/latest.pt").is_file()  # kept to be continued
    with torch.no_grad():  # the next budget starts from the pretrained weights, as the runner does
        for n, p in path.model.named_parameters():
            p.copy_(start[n])
    longer, weights = train(path, tmp_path / "dose", 6)
    assert not (tmp_path / "dose/latest.pt").exists()  # the last budget cleans up
    assert longer.history == whole.history and longer.resumed_from == 2
    assert all(torch.equal(weights[n], whole_weights[n]) for n in weights)
    assert short.history == whole.history[:2]
    assert longer.batches_sha256 == whole.batches_sha256 != short.batches_sha256
    # a finished stage cannot be shortened, nor continued without its resumable state
    with pytest.raises(RunError, match="cannot be continued"):
        train(path, tmp_path / "dose", 8)


@pytest.mark.slow
def test_a_dose_checkpoint_scores_what_a_separate_run_of_its_length_scores(
    tiny_llama_dir, tmp_path, private_cache, counted_evaluations
):
    dose = runner.plan(options(tiny_llama_dir, tmp_path / "dose", steps=4, dose="1/2"))
    result = runner.execute(dose, progress=False)
    checkpoint = runner.dose_plans(dose)[0]
    assert checkpoint.budget == "steps4-checkpoint2"
    at_two = json.loads(checkpoint.result_path.read_text())
    assert at_two["budget"]["dose"] == {
        "stage": "model",
        "steps": 2,
        "examples": 4,
        "of_steps": 4,
        "fractions": "1/2",
    }
    assert result["budget"]["dose"]["steps"] == result["budget"]["dose"]["of_steps"] == 4
    assert not dose.work.exists()  # the run's training folder is removed with its result
    separate = runner.execute(
        runner.plan(options(tiny_llama_dir, tmp_path / "separate", steps=2, dose="")),
        progress=False,
    )
    assert at_two["weights_sha256"] == separate["weights_sha256"]
    assert at_two["after"] == separate["after"] and at_two["target"] == separate["target"]
    assert at_two["stages"][0]["history"] == separate["stages"][0]["history"]
    # one "before" for all three runs of the same pretrained model
    assert (
        sum("promot_mini" in tasks for tasks in counted_evaluations) == 3 + 1
    )  # 3 after, 1 before


@pytest.mark.slow
def test_the_before_pass_is_computed_once_for_every_seed(
    tiny_llama_dir, tmp_path, private_cache, counted_evaluations
):
    """Greedy probes with first_n demonstrations: the seed cannot change an output, so the
    second seed reads the first seed's baseline (and it is identical to one computed anew)."""
    first = runner.execute(
        runner.plan(options(tiny_llama_dir, tmp_path, seed=0, dose="")), progress=False
    )
    befores = sum("promot_mini" in tasks for tasks in counted_evaluations)
    second = runner.execute(
        runner.plan(options(tiny_llama_dir, tmp_path, seed=1, dose="")), progress=False
    )
    assert sum("promot_mini" in tasks for tasks in counted_evaluations) == befores + 1  # "after"
    assert first["before"] == second["before"]
    assert all(not entry["depends_on_seed"] for entry in first["before"].values())
    fresh = evaluation.evaluate(
        specs.load_from_path(tiny_llama_dir).model,
        specs.load_from_path(tiny_llama_dir).tokenizer,
        ["promot_mini"],
        evaluation.EvalOptions(limit=2, seed=1, manager=evaluation.task_manager()),
    )
    assert {t: s.value for t, s in fresh.items()} == {
        t: v["score"] for t, v in second["before"].items()
    }


def test_a_task_that_samples_demonstrations_or_outputs_depends_on_the_seed():
    greedy = {"output_type": "generate_until", "generation_kwargs": {"do_sample": False}}
    assert not evaluation.depends_on_seed(
        {**greedy, "num_fewshot": 1, "fewshot_config": {"sampler": "first_n"}}
    )
    assert not evaluation.depends_on_seed({**greedy, "num_fewshot": 0})
    assert evaluation.depends_on_seed({**greedy, "num_fewshot": 2, "fewshot_config": {}})
    assert evaluation.depends_on_seed(
        {
            "output_type": "generate_until",
            "generation_kwargs": {"do_sample": True},
            "num_fewshot": 0,
        }
    )
    assert not evaluation.depends_on_seed({"output_type": "loglikelihood", "num_fewshot": 0})


def test_ft_and_promot_s_model_stage_draw_the_same_batches_for_one_seed(tiny_llama_dir, tmp_path):
    from promot_bench.run import pipeline
    from promot_bench.train import task_data
    from promot_bench.tuners import load_settings

    manager = evaluation.task_manager()
    task = task_data.load_task("promot_mini_nli", manager)

    def model_stage(tuner, seed):
        loaded = specs.load_from_path(tiny_llama_dir)
        settings = load_settings("cpu-small", {**TINY, "steps": 3, "prompt_steps": 2, "seed": seed})
        tuned = pipeline.fit(
            loaded,
            tuner,
            task,
            settings,
            manager,
            pipeline.FitRun(tmp_path / f"{tuner}-{seed}", progress=False),
        )
        return next(r for r in tuned.reports if r.name == "model").batches_sha256

    assert model_stage("ft", 0) == model_stage("promot", 0)
    assert model_stage("ft", 0) != model_stage("ft", 1)
