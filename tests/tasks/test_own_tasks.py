"""Bring your own tasks: a user's YAML task (local JSONL data) as the fine-tuning target, and
another as a retention probe, on a tiny model; the result file and leaderboard row look like
any other. Unknown or untrainable tasks get one clear line."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from promot_bench.errors import UsageError
from promot_bench.evaluate import samples
from promot_bench.report import leaderboard
from promot_bench.run import runner
from promot_bench.run.options import RunOptions

YESNO = """\
task: my_yesno
dataset_path: json
dataset_kwargs:
  data_files:
    train: {folder}/yesno_train.jsonl
    validation: {folder}/yesno_validation.jsonl
    test: {folder}/yesno_test.jsonl
output_type: multiple_choice
training_split: train
validation_split: validation
test_split: test
num_fewshot: 3
doc_to_text: "Q: Is {{{{number}}}} even? A:"
doc_to_target: label
doc_to_choice: ["no", "yes"]
metric_list:
  - metric: acc
"""

ECHO = """\
task: my_echo
dataset_path: json
dataset_kwargs:
  data_files:
    train: {folder}/echo_train.jsonl
    test: {folder}/echo_test.jsonl
output_type: generate_until
test_split: test
fewshot_split: train
doc_to_text: "Repeat: {{{{word}}}} ->"
doc_to_target: " {{{{word}}}}"
generation_kwargs:
  until: ["\\n"]
  max_gen_toks: 4
  do_sample: false
metric_list:
  - metric: exact_match
"""


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def own_tasks(tmp_path):
    folder = tmp_path / "my_tasks"
    folder.mkdir()
    for split, numbers in (
        ("train", range(0, 16)),
        ("validation", range(16, 20)),
        ("test", range(20, 26)),
    ):
        write_jsonl(
            folder / f"yesno_{split}.jsonl",
            [{"number": n, "label": int(n % 2 == 0)} for n in numbers],
        )
    words = ["apple", "river", "stone", "cloud", "green", "paper"]
    write_jsonl(folder / "echo_train.jsonl", [{"word": w} for w in words[:3]])
    write_jsonl(folder / "echo_test.jsonl", [{"word": w} for w in words[3:]])
    (folder / "my_yesno.yaml").write_text(YESNO.format(folder=folder))
    (folder / "my_echo.yaml").write_text(ECHO.format(folder=folder))
    return folder


def options(model_dir, out, folder, **kw):
    values = dict(
        tuner="promot",
        train="my_yesno",
        model=str(model_dir),
        steps=2,
        out=out,
        eval_tasks="my_echo,promot_mini_same_word",
        include_path=[folder],
        limit=3,
        overrides={
            "batch_size": "2",
            "prompt_length": "3",
            "keep_best": "true",
            "checkpoint_every": "1",
            "prompt_checkpoint_every": "1",
        },
    )
    values.update(kw)
    return RunOptions(**values)


def test_own_target_and_own_probe_make_an_ordinary_result(
    tiny_llama_dir, tmp_path, own_tasks, private_cache
):
    plan = runner.plan(options(tiny_llama_dir, tmp_path / "results", own_tasks))
    assert plan.targets == ["my_yesno"] and plan.eval_tasks == ["my_echo", "promot_mini_same_word"]
    assert (
        not plan.lm_eval_defaults
    )  # found among ours and the include path: lm-eval's index not needed
    result = runner.execute(plan, progress=False)
    assert (
        plan.folder
        == tmp_path
        / "results/runs"
        / plan.spec.name
        / "tasks-my_echo+promot_mini_same_word-1shot/my_yesno/promot/steps2-best"
    )
    assert set(result["before"]) == set(result["after"]) == {"my_echo", "promot_mini_same_word"}
    assert (
        result["before"]["my_echo"]["metric"] == "exact_match"
        and result["before"]["my_echo"]["n"] == 3
    )
    assert (
        result["target"]["tuned"]["metric"] == "acc" and result["target"]["tuned"]["n"] == 6
    )  # the test split
    assert (
        "--eval-tasks my_echo,promot_mini_same_word" in result["command"]
        and "--include-path" in result["command"]
    )
    lines = samples.items(plan.samples_path)
    echo_before = [
        line for line in lines if line["phase"] == "before" and line["task"] == "my_echo"
    ]
    assert (
        len(echo_before) == 3 and echo_before[0]["prompt"].count("Repeat:") == 2
    )  # 1-shot: demo + item
    target = [line for line in lines if line["phase"] == "target_tuned"]
    assert len(target) == 6 and all(
        line["prompt"].count("Q:") == 1 for line in target
    )  # 0-shot despite YAML's 3

    paths = leaderboard.build(tmp_path / "results")
    table = (tmp_path / "results" / "LEADERBOARD.md").read_text()
    assert (
        "promot → my_yesno" in table
        and "my_echo" in table
        and any(str(p).endswith(".csv") for p in paths)
    )


@pytest.mark.slow  # 6 s or more on 2 cores: out of the fast lane (tox -e fast)
def test_own_tasks_share_the_baseline_cache_and_change_its_key(
    tiny_llama_dir, tmp_path, own_tasks, private_cache
):
    first = runner.execute(
        runner.plan(options(tiny_llama_dir, tmp_path / "a", own_tasks, tuner="pt")), progress=False
    )
    assert first["after_is_baseline"]
    (own_tasks / "echo_test.jsonl").write_text(
        json.dumps({"word": "tree"}) + "\n"
    )  # new data: a new key
    second = runner.execute(
        runner.plan(options(tiny_llama_dir, tmp_path / "b", own_tasks, tuner="pt")), progress=False
    )
    assert (
        second["suite_version"] != first["suite_version"] and second["before"]["my_echo"]["n"] == 1
    )


def test_no_training_split_and_unknown_tasks_are_refused(tmp_path, own_tasks):
    with pytest.raises(UsageError, match="no training split"):
        runner.plan(RunOptions(tuner="ft", train="my_echo", include_path=[own_tasks], out=tmp_path))
    with pytest.raises(UsageError, match="is not an lm-eval task or group"):
        runner.plan(
            RunOptions(
                tuner="ft",
                train="nli",
                eval_tasks="my_nothing",
                include_path=[own_tasks],
                out=tmp_path,
            )
        )
    with pytest.raises(UsageError, match="is not in the v2 suite"):
        runner.plan(RunOptions(tuner="ft", train="rte", out=tmp_path))
    with pytest.raises(UsageError, match="--include-path"):
        runner.plan(
            RunOptions(tuner="ft", train="nli", include_path=[tmp_path / "none"], out=tmp_path)
        )


def test_cli_refuses_an_unknown_target_in_one_line(tmp_path, own_tasks):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "promot_bench.cli",
            "run",
            "--tuner",
            "ft",
            "--train",
            "my_nonexistent_task",
            "--include-path",
            str(own_tasks),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "my_nonexistent_task" in done.stderr and not (tmp_path / "out").exists()
