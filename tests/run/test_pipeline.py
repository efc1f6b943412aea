"""A target task becomes training data, a tuner fits it with keep-best, the target is scored
with the tuner's attachments — on a tiny model and the offline mini suite."""

import pytest

from promot_bench.evaluate import evaluation
from promot_bench.models import specs
from promot_bench.run import pipeline
from promot_bench.train import task_data
from promot_bench.tuners import load_settings


@pytest.fixture(scope="module")
def manager():
    return evaluation.task_manager()


def test_fit_and_score_a_mini_target(tiny_llama_dir, tmp_path, manager):
    task = task_data.load_task("promot_mini_nli", manager)
    settings = load_settings(
        "cpu-small",
        dict(
            steps=2,
            prompt_steps=2,
            checkpoint_every=1,
            prompt_checkpoint_every=1,
            batch_size=2,
            prompt_length=3,
        ),
    )
    loaded = specs.load(specs.resolve(str(tiny_llama_dir)))
    tuned = pipeline.fit(
        loaded, "promot", task, settings, manager, pipeline.FitRun(tmp_path, progress=False)
    )
    assert [r.name for r in tuned.reports] == ["prompt", "model"]
    # keep-best validated at every checkpoint on the 60-item validation split
    assert all(r.best_step in (1, 2) and r.best_score is not None for r in tuned.reports)
    assert (tmp_path / "model" / "best.safetensors").is_file()
    name = task.config.task
    score = pipeline.score_target(
        tuned.model,
        loaded.tokenizer,
        name,
        tuned.attachment(name),
        evaluation.EvalOptions(manager=manager, limit=4),
    )
    assert score.n == 4 and score.metric == "score"


def test_a_group_is_refused_as_a_target(manager):
    from promot_bench.errors import UsageError

    with pytest.raises(UsageError, match="group"):
        task_data.load_task("promot_mini", manager)
    with pytest.raises(UsageError, match="unknown task"):
        task_data.load_task("promot_mini_nope", manager)
