"""One readable progress view: redirected output has no redrawing, one line per stage and a few
per phase, none of the libraries' bars or notices (nor the `git describe` lm-eval runs); with
--verbose the libraries speak again."""

import os
import subprocess
import sys

import pytest

from promot_bench import console as progress


def run_cli(model_dir, out, cwd, *extra):
    env = {k: v for k, v in os.environ.items() if k != progress.VERBOSE_ENV}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "promot_bench.cli",
            "run",
            "--tuner",
            "promot",
            "--train",
            "nli",
            "--model",
            str(model_dir),
            "--budget",
            "8",
            "--limit",
            "2",
            "--set",
            "batch_size=2",
            "--set",
            "prompt_length=3",
            "--eval-tasks",
            "promot_mini_nli3",
            "--suite",
            "v1",
            "--out",
            str(out),
            *extra,
        ],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )


@pytest.mark.slow  # over 8 s here: the fast lane's rule
def test_a_redirected_run_prints_plain_stage_lines_only(tiny_llama_dir, tmp_path, private_cache):
    done = run_cli(tiny_llama_dir, tmp_path / "out", tmp_path)  # cwd outside any git checkout
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr and "\r" not in done.stdout
    lines = done.stderr.splitlines()
    assert lines[0].startswith("promot on nli (tiny-llama") and "model loaded in" in lines[0]
    for expected in (
        "before: done in",
        "  train prompt: 8/8",
        "  train model: 8/8",
        "train: done in",
        "after: done in",
    ):
        assert any(line.startswith(expected) for line in lines), expected
    # a few lines per phase (each quarter), not one per step
    assert sum(line.startswith("  train model:") for line in lines) == 4
    assert not any(
        noise in done.stderr
        for noise in ("fatal:", "Running generate_until", "Custom kwargs", "Loading weights")
    )
    assert "result:" in done.stdout and "items flipped" in done.stdout  # stdout: the table alone
    assert not any(
        line.startswith(("  train", "before:", "after:")) for line in done.stdout.splitlines()
    )


@pytest.mark.slow  # over 8 s here: the fast lane's rule
def test_verbose_gives_the_libraries_their_output_back(tiny_llama_dir, tmp_path, private_cache):
    done = run_cli(tiny_llama_dir, tmp_path / "out", tmp_path, "--verbose")
    assert done.returncode == 0, done.stderr
    assert "Running generate_until requests" in done.stderr


def test_a_phase_off_a_terminal_reports_each_quarter(capsys, monkeypatch):
    monkeypatch.setattr(progress, "interactive", lambda: False)
    phase = progress.Phase("train model", 40, initial=10)
    for _ in range(30):
        phase.set_postfix(loss="1.0")
        phase.update()
    phase.close()
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        "  train model: 20/40",
        "  train model: 30/40",
        "  train model: 40/40",
    ]
    assert lines[-1].endswith("loss 1.0") and "left" in lines[0]
    progress.Phase("quiet", 4, enabled=False).update()
    assert capsys.readouterr().err == ""


def test_silenced_stderr_reaches_subprocesses_and_is_restored(capfd, monkeypatch):
    monkeypatch.delenv(progress.VERBOSE_ENV, raising=False)
    with progress.silenced_stderr():
        subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write('noise')"])
    print("after", file=sys.stderr)
    assert capfd.readouterr().err == "after\n"
    monkeypatch.setenv(progress.VERBOSE_ENV, "1")
    with progress.silenced_stderr():
        subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write('heard')"])
    assert "heard" in capfd.readouterr().err
