"""The suites are named by their lm-eval groups alone: the 1- and 4-shot probe groups and the
targets group, each a YAML file of ours; the short target names come from the targets group."""

import yaml

from promot_bench.evaluate import evaluation
from promot_bench.run.suites import SUITES


def test_short_target_names_come_from_each_suite_s_targets_group():
    assert {key: suite.targets for key, suite in SUITES.items()} == {
        "mini": {"nli": "promot_mini_v2_nli", "en-fr": "promot_mini_v2_en_fr"},
        "mini-v1": {"nli": "promot_mini_nli", "en-fr": "promot_mini_en_fr"},
        "paper": {
            "rte": "promot_rte",
            "wmt14-en-fr": "promot_wmt14_en_fr",
            "snli": "promot_snli",
            "openbookqa": "promot_openbookqa",
        },
    }


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
