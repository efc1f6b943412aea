"""The suites are named by their lm-eval groups alone: the 1- and 4-shot probe groups and the
targets group, each a YAML file of ours; the short target names come from the targets group."""

import yaml

from promot_bench.evaluate import evaluation
from promot_bench.evaluate.suites import SUITES


def test_every_target_of_a_suite_resolves_from_its_short_name():
    """What a user types (`--train nli`) names the task of the suite's targets group whose name
    it is less the suite's prefix, and nothing else resolves to it."""
    from promot_bench.evaluate.suites import TaskFinder, group_members, resolve_target

    finder = TaskFinder([])
    for suite in SUITES.values():
        members = group_members(suite.folder, suite.targets_group)
        assert len(suite.targets) == len(members) >= 2
        for short, task in suite.targets.items():
            assert task in members and "_" not in short
            assert resolve_target(short, suite, finder) == task


def test_every_suite_group_is_a_yaml_of_ours_with_the_shots_its_name_says():
    for suite in SUITES.values():
        for shots, group in suite.groups.items():
            config = yaml.safe_load(
                (evaluation.tasks_dir() / suite.folder / f"{group}.yaml").read_text()
            )
            assert config["group"] == group
            # the 1-shot groups leave shots to each task (1); the 4-shot ones override them
            assert config.get("num_fewshot", 1) == shots
            assert set(config["task"]) == set(
                yaml.safe_load(
                    (evaluation.tasks_dir() / suite.folder / f"{suite.group}.yaml").read_text()
                )["task"]
            )


def test_a_misspelt_task_is_refused_from_the_cached_names_without_indexing_lm_eval(
    private_cache, monkeypatch
):
    import pytest

    from promot_bench.errors import UsageError
    from promot_bench.evaluate import suites

    monkeypatch.setattr(suites, "lm_eval_task_names", lambda: ["arc_easy", "hellaswag"])
    built = []
    real = evaluation.task_manager
    monkeypatch.setattr(
        evaluation,
        "task_manager",
        lambda *a, **kw: built.append(kw.get("defaults", False)) or real(*a, **kw),
    )
    finder = suites.TaskFinder([])
    with pytest.raises(UsageError, match=r"similar: promot_mini_qa_capitals"):
        finder("promot_mini_qa_capitalz", "--eval-tasks: no such task")
    assert True not in built  # lm-eval's own index (about 20 s) was never built
    assert finder.manager_for("promot_mini_qa_capitals") is finder.managers[0]


def test_lm_eval_s_task_names_are_indexed_once_and_cached(private_cache, monkeypatch):
    from promot_bench.evaluate import suites

    calls = []

    class Index:
        all_tasks = ["b_task", "a_task"]

    monkeypatch.setattr(evaluation, "task_manager", lambda *a, **kw: calls.append(kw) or Index())
    assert suites.lm_eval_task_names() == ["a_task", "b_task"]
    assert suites.lm_eval_task_names() == ["a_task", "b_task"] and len(calls) == 1
