"""Feed it garbage: every subcommand, bad input of every kind. Each gives one line on stderr that
names the problem, exit code 2 (bad input) or 1 (a failure while working: a NaN loss, a full
disk), no traceback, and writes nothing under --out."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.cli_batch import run_many

BAD_YAML = "task: broken_task\ndataset_path: json\n  doc_to_text: [unclosed\n"


@pytest.fixture(scope="module")
def places(tmp_path_factory, tiny_llama_dir):
    root = tmp_path_factory.mktemp("bad-input")
    (root / "a_file").write_text("not a folder")
    (root / "broken_yamls").mkdir()
    (root / "broken_yamls" / "broken.yaml").write_text(BAD_YAML)
    (root / "empty_runs" / "runs").mkdir(parents=True)
    return {"root": root, "model": tiny_llama_dir}


# (argv, expected exit code, text the one line must contain, or a tuple of texts). {out},
# {file}, {root}, {model} are filled in per test; every `run`/`sweep`/`diagnose` writes under
# {out}, which must not appear.
CASES = [
    (["run", "--tuner", "nope", "--train", "nli"], 2, "unknown tuner 'nope'"),
    (["run", "--tuner", "ft", "--train", "nli", "--seed", "-1"], 2, "--seed must be between"),
    (["run", "--tuner", "ft", "--train", "nli", "--out", "/proc/x"], 2, "not writable"),
    (["sweep", "--tuners", "ft", "--train", "nli", "--seeds", "1,01"], 2, "a seed twice"),
    (["run", "--tuner", "ft", "--train", "nli", "--set", "dose=1/4,2"], 2, "outside the budget"),
    (
        [
            "run",
            "--tuner",
            "ft",
            "--train",
            "nli",
            "--preset",
            "cpu-study-v2",
            "--set",
            "schedule=linear",
        ],
        2,
        "constant schedule",
    ),
    (["seed-plan", "--preset", "cpu-study", "--out", "{root}/empty_runs"], 2, "no seed rule"),
    (["run", "--tuner", "ft", "--train", "nonexistent_target_xyz"], 2, "nonexistent_target_xyz"),
    (["run", "--tuner", "ft", "--train", "rte"], 2, "not in the v2 suite (it is in --suite study)"),
    (["run", "--tuner", "ft", "--train", "nli", "--suite", "huge"], 2, "--suite"),
    (["run", "--tuner", "ft", "--train", "nli", "--preset", "huge"], 2, "unknown preset"),
    (["run", "--tuner", "ft", "--train", "nli", "--shots", "3"], 2, "--shots 3"),
    (
        [
            "run",
            "--tuner",
            "ft",
            "--train",
            "nli",
            "--shots",
            "-1",
            "--eval-tasks",
            "promot_mini_nli3",
        ],
        2,
        "--shots",
    ),
    (
        [
            "run",
            "--tuner",
            "ft",
            "--train",
            "nli",
            "--shots",
            "99",
            "--eval-tasks",
            "promot_mini_nli3",
        ],
        2,
        "--shots",
    ),
    (["run", "--tuner", "ft", "--train", "nli", "--limit", "0"], 2, "--limit"),
    (["run", "--tuner", "ft", "--train", "nli", "--limit", "many"], 2, "--limit"),
    (["run", "--tuner", "ft", "--train", "nli", "--budget", "0"], 2, "--budget"),
    (["run", "--tuner", "ft", "--train", "nli", "--seed", "abc"], 2, "--seed"),
    (["run", "--tuner", "ft", "--train", "nli", "--set", "lr=abc"], 2, "setting lr"),
    (["run", "--tuner", "ft", "--train", "nli", "--set", "lr"], 2, "KEY=VALUE"),
    (
        ["run", "--tuner", "ft", "--train", "nli", "--set", "lr=nan"],
        2,
        "setting lr: input should be a finite number",
    ),
    (
        ["run", "--tuner", "ft", "--train", "nli", "--set", "no_such_setting=1"],
        2,
        "unknown setting",
    ),
    (
        ["run", "--tuner", "ft", "--train", "nli", "--set", "batch_size=" + "9" * 400],
        2,
        "batch_size",
    ),
    (["run", "--tuner", "ft", "--train", ""], 2, "empty target"),
    (["run", "--tuner", "ft", "--train", "nli+nli"], 2, "twice"),
    (["run", "--tuner", "ft", "--train", "nli+en-fr-then-nli", "--suite", "v1"], 2, "mixes"),
    (
        ["run", "--tuner", "promot-1shot", "--train", "nli+en-fr", "--suite", "v1"],
        2,
        "cannot train on several targets",
    ),
    (["run", "--tuner", "ft", "--train", "nli", "--eval-tasks", ""], 2, "--eval-tasks"),
    (
        ["run", "--tuner", "ft", "--train", "nli", "--eval-tasks", "promot_mini_nli3,,x"],
        2,
        "--eval-tasks",
    ),
    (
        ["run", "--tuner", "ft", "--train", "nli", "--eval-tasks", "no_such_probe_xyz"],
        2,
        "no_such_probe_xyz",
    ),
    (
        ["run", "--tuner", "ft", "--train", "nli", "--include-path", "{root}/missing"],
        2,
        "--include-path",
    ),
    (
        [
            "run",
            "--tuner",
            "ft",
            "--train",
            "nli",
            "--include-path",
            "{root}/broken_yamls",
            "--eval-tasks",
            "broken_task",
        ],
        2,
        "broken_task",
    ),
    (["run", "--tuner", "ft", "--train", "nli", "--model", "{root}/a_file"], 2, "a_file"),
    (
        ["run", "--tuner", "ft", "--train", "nli", "--model", "{root}/no_model_here"],
        2,
        "no_model_here",
    ),
    (["run", "--tuner", "ft", "--train", "nli", "--out-of-place"], 2, "unrecognized"),
    (["sweep", "--tuners", "ft,,pt", "--train", "nli"], 2, "--tuners"),
    (["sweep", "--tuners", "ft,ft", "--train", "nli"], 2, "twice"),
    (["sweep", "--tuners", "ft", "--train", "nli", "--seeds", "a,b"], 2, "--seeds"),
    (["sweep", "--tuners", "ft", "--train", "nli,bogus_target_xyz"], 2, "bogus_target_xyz"),
    (["diagnose", "--tuner", "ft,ft", "--train", "nli"], 2, "twice"),
    (["diagnose", "--tuner", "ft", "--train", "nli", "--every", "0"], 2, "--every"),
    (
        ["diagnose", "--tuner", "ft", "--train", "nli-then-en-fr", "--suite", "v1"],
        2,
        "one target",
    ),
    (["eval", "--tasks", "no_such_task_xyz", "--model", "{model}"], 2, "no_such_task_xyz"),
    (["eval", "--tasks", "promot_mini_nli3", "--shots", "99", "--model", "{model}"], 2, "--shots"),
    (["leaderboard", "--out", "{root}/nowhere"], 2, "no runs/ folder"),
    (["leaderboard", "--out", "{root}/empty_runs"], 1, "no result files"),
    (["models", "fetch", "nonexistent/model-xyz"], 2, "nonexistent/model-xyz"),
    (["frobnicate"], 2, "invalid choice"),
    (["run", "--tuner", "ft", "--train", "nli", "--suite", "study"], 2, "not in the study suite"),
    (["run", "--train", "nli"], 2, "--tuner"),
    (
        ["run", "--tuner", "ft", "--train", "nli", "--suite", "huge"],
        2,
        ("--suite", "'v2', 'v1', 'study'"),
    ),
    (["models", "frobnicate"], 2, "'list', 'fetch', 'path'"),
    (["models", "fetch", "not a model"], 2, ("unknown model", "smollm2-135m")),
    (["models", "fetch", "./missing/model.gguf"], 2, "no such file"),
    (["models", "fetch", ""], 2, "empty"),
    (["eval", "--tasks", "promot_nope"], 2, ("unknown task", "promot_nope", "promot_mini")),
    (["sweep", "--tuners", "ft", "--train", "nli", "--budgets", "40,0"], 2, "--budgets"),
    (["sweep", "--tuners", "ft", "--train", "nli", "--budgets", "40,-1"], 2, "--budgets"),
    (["sweep", "--tuners", "ft", "--train", "nli", "--budgets", "forty"], 2, "--budgets"),
    (["sweep", "--tuners", "ft", "--train", "nli", "--budgets", "40,5000"], 2, "cap"),
    (["run", "--tuner", "ft", "--train", "nli", "--budget", "5000"], 2, "cap"),
    (["run", "--tuner", "ft", "--train", "nli", "--budget", "x"], 2, "--budget"),
    (
        ["run", "--tuner", "ft", "--train", "nli", "--model", "nonexistent/model-xyz"],
        2,
        "model-xyz",
    ),
    (["calibrate", "--tuner", "ft", "--train", "nli", "--lrs", "1e-4,1e-4"], 2, "twice"),
]


def fill(argv, places, out):
    values = {"out": out, "root": places["root"], "model": places["model"]}
    return [a.format(**values) for a in argv]


def command(argv, places, folder: Path) -> tuple[list[str], dict, Path]:
    """The row's command line, environment and --out folder (each row its own folder)."""
    out = folder / "out"
    args = fill(argv, places, out)
    if args[0] in ("run", "sweep", "diagnose", "calibrate") and "--out" not in args:
        args += ["--out", str(out)]
        if "--model" not in args:
            args += ["--model", str(places["model"])]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PROMOT_BENCH_CACHE": str(folder / "cache")}
    env.pop("PROMOT_BENCH_DEBUG", None)
    return args, env, out


def assert_refused(done, code, message, out):
    lines = done.stderr.strip().splitlines()
    assert done.returncode == code, done.stderr
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("promot-bench: error: "), lines[0]
    for text in (message,) if isinstance(message, str) else message:
        assert text in lines[0], lines[0]
    assert not out.exists()
    cache = out.parent / "cache"  # nothing fetched or converted either
    assert not cache.exists() or not any(cache.rglob("*.safetensors"))


@pytest.fixture(scope="module")
def table(places, tmp_path_factory):
    """Every row run once, in one process (tests/helpers/cli_batch.py)."""
    rows = [command(argv, places, tmp_path_factory.mktemp("row")) for argv, _, _ in CASES]
    done = run_many([(args, env) for args, env, _ in rows])
    return {tuple(argv): (d, out) for (argv, _, _), d, (_, _, out) in zip(CASES, done, rows)}


@pytest.mark.slow  # 6 s or more on 2 cores: out of the fast lane (tox -e fast)
@pytest.mark.parametrize(
    "argv,code,message",
    CASES,
    ids=[f"{n}: " + " ".join(a)[:60] for n, (a, _, _) in enumerate(CASES)],
)
def test_bad_input_gets_one_line_and_writes_nothing(argv, code, message, table):
    done, out = table[tuple(argv)]
    assert_refused(done, code, message, out)


# the commands whose handlers import the heavy libraries (torch and transformers, lm-eval,
# matplotlib): the first row of each
FRESH = ("run", "eval", "leaderboard")
FIRST_OF_EACH = [next(case for case in CASES if case[0][0] == command) for command in FRESH]


@pytest.mark.parametrize(
    "argv,code,message", FIRST_OF_EACH, ids=[a[0] for a, _, _ in FIRST_OF_EACH]
)
def test_a_fresh_process_says_the_same_one_line(argv, code, message, places, tmp_path):
    """A row of each heavy command in a process of its own: nothing an import prints gets in."""
    args, env, out = command(argv, places, tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "promot_bench.cli", *args], capture_output=True, text=True, env=env
    )
    assert_refused(done, code, message, out)


def test_there_are_at_least_25_cases_over_every_subcommand():
    assert len(CASES) >= 25
    assert {c[0][0] for c in CASES} >= {"run", "sweep", "diagnose", "eval", "leaderboard", "models"}


def error_lines(stderr: str) -> list[str]:
    """A failure while working comes after progress bars: its error is one line, the last."""
    lines = [line for line in stderr.replace("\r", "\n").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("promot-bench: error")]
    assert "Traceback" not in stderr and errors and lines[-1] == errors[-1], stderr[-2000:]
    return errors


def run_tiny(model: Path, out: Path, cache: Path, *extra, env_extra=None):
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "PROMOT_BENCH_CACHE": str(cache),
        **(env_extra or {}),
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "promot_bench.cli",
            "run",
            "--tuner",
            "ft",
            "--train",
            "nli",
            "--model",
            str(model),
            "--out",
            str(out),
            "--budget",
            "2",
            "--limit",
            "1",
            "--eval-tasks",
            "promot_mini_nli3",
            "--set",
            "batch_size=2",
            *extra,
        ],
        capture_output=True,
        text=True,
        env=env,
    )


@pytest.mark.slow  # 6 s or more on 2 cores: out of the fast lane (tox -e fast)
def test_a_nan_producing_learning_rate_stops_with_one_line(places, tmp_path):
    done = run_tiny(
        places["model"], tmp_path / "out", tmp_path / "cache", "--set", "lr=1e30", "--budget", "4"
    )
    lines = error_lines(done.stderr)
    assert done.returncode == 1 and len(lines) == 1, done.stderr[-2000:]
    assert "loss became" in lines[0] and "lower learning rate" in lines[0]
    assert not list(
        (tmp_path / "out").rglob("seed0.json")
    )  # no result; the work folder stays for a rerun


@pytest.mark.slow  # fault injection, two runs of the tiny model: with the kill suite
def test_a_full_disk_stops_with_one_line_and_loses_nothing(places, tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    done = run_tiny(places["model"], out, cache, env_extra={"PROMOT_BENCH_FAULT": "write:3:enospc"})
    lines = error_lines(done.stderr)
    assert done.returncode == 1 and len(lines) == 1, done.stderr[-2000:]
    assert "No space left on device" in lines[0]
    assert not list(out.rglob("*.tmp"))  # the failed write's temporary is removed
    again = run_tiny(places["model"], out, cache)  # space again: the rerun finishes
    assert again.returncode == 0, again.stderr
