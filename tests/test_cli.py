"""The CLI's contract: --help everywhere, and bad input = one line on stderr, exit 2, nothing
written."""

import subprocess
import sys

import pytest

from promot_bench.cli import build_parser, main

SUBCOMMANDS = [
    "run",
    "sweep",
    "eval",
    "probes",
    "diagnose",
    "leaderboard",
    "tasks",
    "tuners",
    "models",
]


def test_every_subcommand_has_help(capsys):
    for name in [None, *SUBCOMMANDS]:
        argv = ([name] if name else []) + ["--help"]
        with pytest.raises(SystemExit) as done:
            main(argv)
        assert done.value.code == 0
        assert "usage: promot-bench" in capsys.readouterr().out


def test_parser_lists_all_subcommands():
    text = build_parser().format_help()
    for name in SUBCOMMANDS:
        assert name in text


def run_cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "promot_bench.cli", *args], capture_output=True, text=True, env=env
    )


def assert_one_line_error(done, exit_code, *needles):
    assert done.returncode == exit_code, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("promot-bench: error: ")
    assert "Traceback" not in done.stderr
    for needle in needles:
        assert needle in lines[0]


# The bad-input table of the CLI's commands: tests/reliability/test_bad_input.py.


def test_corrupt_gguf_is_refused_and_nothing_written(tmp_path, private_cache):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 64)
    done = run_cli("models", "fetch", str(bad))
    assert_one_line_error(done, 2, "not a valid GGUF")
    assert not (private_cache / "models").exists() or not any((private_cache / "models").iterdir())


def test_model_that_is_a_plain_file_is_refused(tmp_path):
    plain = tmp_path / "weights.bin"
    plain.write_bytes(b"x")
    assert_one_line_error(run_cli("models", "fetch", str(plain)), 2, "not a .gguf")


def test_folder_without_config_is_refused(tmp_path):
    assert_one_line_error(run_cli("models", "fetch", str(tmp_path)), 2, "config.json")


def test_unprepared_path_says_how_to_fetch(private_cache):
    assert_one_line_error(run_cli("models", "path", "smollm2-135m"), 2, "models fetch smollm2-135m")


def test_models_lists_the_embedded_default(private_cache):
    done = run_cli("models")
    assert done.returncode == 0, done.stderr
    assert "smollm2-135m" in done.stdout and "not fetched yet" in done.stdout


def test_local_folder_spec_prints_its_path(tiny_llama_dir):
    done = run_cli("models", "path", str(tiny_llama_dir))
    assert done.returncode == 0 and done.stdout.strip() == str(tiny_llama_dir.resolve())


def test_tuners_lists_every_tuner():
    from promot_bench.tuners import TUNERS

    done = run_cli("tuners")
    assert done.returncode == 0
    for name in TUNERS:
        assert f"\n{name} " in "\n" + done.stdout


def test_tasks_lists_both_suites_with_metrics():
    done = run_cli("tasks")
    assert done.returncode == 0, done.stderr
    for name in ("promot_mini", "promot_mini_nli", "promot_suite", "promot_cb", "promot_rte"):
        assert f"  {name} " in done.stdout
    assert "exact_match" in done.stdout and "rouge2" in done.stdout


@pytest.mark.slow  # 6 s or more on 2 cores: out of the fast lane (tox -e fast)
def test_eval_prints_lm_evals_table(tiny_llama_dir, private_cache):  # the env var reaches the child
    """`promot-bench eval` runs the runner's evaluation on any model spec and prints lm-eval's
    own results table (task, metric, value, stderr) and the item count."""
    done = run_cli(
        "eval",
        "--model",
        str(tiny_llama_dir),
        "--tasks",
        "promot_mini_qa_capitals,promot_mini_nli3",
        "--limit",
        "2",
    )
    assert done.returncode == 0, done.stderr
    header = next(
        line for line in done.stdout.splitlines() if line.startswith("|") and "Tasks" in line
    )
    assert all(column in header for column in ("Metric", "Value", "Stderr"))
    rows = [line for line in done.stdout.splitlines() if line.startswith("|promot_mini_")]
    assert {row.split("|")[1].strip() for row in rows} == {
        "promot_mini_qa_capitals",
        "promot_mini_nli3",
    }
    assert "4 items in" in done.stdout


def test_the_suite_choices_are_the_runners_suites():
    from promot_bench import cli
    from promot_bench.evaluate import suites

    assert cli.SUITE_CHOICES == list(suites.SUITES)


def test_a_suite_s_old_name_is_taken_as_its_version_with_one_line(capsys):
    """Suites are named by version (v2, v1) or study; the names they had still parse, each
    told in one line on stderr, and reach the runner as the new name."""
    parser = build_parser()
    for old, new in [("mini", "v2"), ("mini-v1", "v1"), ("paper", "study")]:
        args = parser.parse_args(["run", "--tuner", "ft", "--train", "nli", "--suite", old])
        assert args.suite == new
        assert capsys.readouterr().err == f"promot-bench: --suite {old} is now --suite {new}\n"
    assert parser.parse_args(["probes"]).suite == "v2" and capsys.readouterr().err == ""


def test_run_sweep_and_diagnose_share_one_options_builder():
    """Each command's shared arguments reach the runner's options the same way; what a command
    lacks (sweep's single seed, diagnose's --limit) keeps the default."""
    from promot_bench.cli import run_options

    parser = build_parser()
    common = "--model m --suite v1 --shots 4 --preset cpu-study --out o --set lr=1e-4".split()
    run = run_options(
        parser.parse_args(
            [
                "run",
                "--tuner",
                "ft",
                "--train",
                "nli",
                "--seed",
                "2",
                "--budget",
                "30",
                "--limit",
                "3",
                "--save-model",
                *common,
            ]
        )
    )
    sweep = run_options(
        parser.parse_args(
            [
                "sweep",
                "--tuners",
                "ft,pt",
                "--train",
                "nli,en-fr",
                "--seeds",
                "0,1",
                "--budgets",
                "40,160",
                "--limit",
                "3",
                "--save-model",
                *common,
            ]
        ),
        tuner="",
        train="",
        steps=None,
    )
    diagnose = run_options(
        parser.parse_args(
            [
                "diagnose",
                "--tuner",
                "ft,promot",
                "--train",
                "nli",
                "--seed",
                "2",
                "--budget",
                "30",
                *common,
            ]
        ),
        tuner="",
    )
    for options in (run, sweep, diagnose):
        assert (
            options.model,
            options.suite,
            options.shots,
            options.preset,
            str(options.out),
            options.overrides,
        ) == ("m", "v1", 4, "cpu-study", "o", {"lr": "1e-4"})
    assert (run.tuner, run.train, run.seed, run.steps, run.limit, run.save_model) == (
        "ft",
        "nli",
        2,
        30,
        3,
        True,
    )
    assert (sweep.tuner, sweep.train, sweep.seed, sweep.steps, sweep.limit, sweep.save_model) == (
        "",
        "",
        0,
        None,
        3,
        True,
    )
    assert (diagnose.train, diagnose.seed, diagnose.steps, diagnose.limit, diagnose.save_model) == (
        "nli",
        2,
        30,
        None,
        False,
    )
