"""Multi-process training (benchmark/train/distributed.py) on CPU: two processes over gloo, launched
the way docs/scale.md documents (`accelerate launch --multi_gpu` for DDP, `--use_fsdp` for FSDP,
`--num_processes 2`), must train exactly as one process does: the same loss at every step and
the same final weights, within float tolerance, for `ft` and for ProMoT's model stage (soft
prompt attached)."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from promot_bench.evaluate import samples

WORKER = Path(__file__).resolve().parents[1] / "helpers" / "distributed_worker.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LAUNCH = {"ddp": "--multi_gpu", "fsdp": "--use_fsdp"}


def launcher(processes: int, parallel: str = "ddp") -> list[str]:
    if processes == 1:
        return [sys.executable]
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        LAUNCH[parallel],
        "--num_processes",
        str(processes),
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(free_port()),
    ]


def train(
    model_dir, kind, tmp_path, processes: int, parallel: str = "ddp", resume_at: int = 0
) -> dict:
    name = f"{kind}-{processes}-{parallel}"
    out, work = tmp_path / f"{name}.json", tmp_path / f"work-{name}"
    args = [str(WORKER), str(model_dir), kind, str(out), str(work)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    if processes == 1 and parallel == "fsdp":  # no launcher: the sharded path in one process
        env["ACCELERATE_USE_FSDP"] = "true"
    if resume_at:  # stop after that step (checkpoint written), then train again from it
        stopped = subprocess.run(
            [*launcher(processes, parallel), *args],
            capture_output=True,
            text=True,
            env={**env, "PROMOT_BENCH_FAULT": f"step:{resume_at + 1}"},
            cwd=WORKER.parent,
            timeout=600,
        )
        assert stopped.returncode != 0 and not out.exists(), stopped.stderr[-3000:]
    done = subprocess.run(
        [*launcher(processes, parallel), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=WORKER.parent,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.slow
@pytest.mark.parametrize("processes, parallel", [(2, "ddp"), (2, "fsdp"), (1, "fsdp")])
@pytest.mark.parametrize("kind", ["ft", "promot"])
def test_launched_processes_train_as_one(tiny_llama_dir, tmp_path, kind, processes, parallel):
    one = train(tiny_llama_dir, kind, tmp_path, 1)
    two = train(tiny_llama_dir, kind, tmp_path, processes, parallel)
    losses_one = [loss for _, loss in one["history"]]
    losses_two = [loss for _, loss in two["history"]]
    assert len(losses_one) == 4
    assert losses_two == pytest.approx(losses_one, rel=1e-4, abs=1e-5)
    assert losses_one[0] != pytest.approx(losses_one[-1], abs=1e-3)  # it did train
    # Every step clips (the worker's clip norm is small): by the norm over all processes' shares.
    assert min(one["grad_norms"]) > 0.05
    assert two["grad_norms"] == pytest.approx(one["grad_norms"], rel=1e-4)
    for name, values in one["weights"].items():
        assert two["weights"][name] == pytest.approx(values, abs=1e-4), name
    assert two["norm"] == pytest.approx(one["norm"], rel=1e-5)


def launch_cli(arguments: list[str], processes: int, cache, parallel: str = "ddp") -> str:
    """`promot-bench ARGUMENTS` in 1 process or under `accelerate launch`; its stdout."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "CUDA_VISIBLE_DEVICES": "",
        "PROMOT_BENCH_CACHE": str(cache),
    }
    done = subprocess.run(
        [*launcher(processes, parallel), "-m", "promot_bench.cli", *arguments],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def launch_run(tiny_llama_dir, out, processes: int, cache, parallel: str = "ddp"):
    stdout = launch_cli(
        [
            "run",
            "--model",
            str(tiny_llama_dir),
            "--tuner",
            "promot",
            "--train",
            "nli",
            "--budget",
            "2",
            "--limit",
            "3",
            "--out",
            str(out),
        ],
        processes,
        cache,
        parallel,
    )
    assert stdout.count("result: ") == 1  # only the main process reports
    result = next(out.rglob("seed0.json"))
    return json.loads(result.read_text()), samples.items(result.with_name("seed0.samples.jsonl"))


@pytest.mark.slow
@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_runner_under_accelerate_launch(tiny_llama_dir, tmp_path, parallel):
    """`accelerate launch ... promot-bench run`: both processes train and evaluate (each its
    share of the items), the main process writes one result; it equals a single-process run's.
    Separate caches, so the 2-process run computes its own baseline."""
    one, one_samples = launch_run(tiny_llama_dir, tmp_path / "one", 1, tmp_path / "cache-one")
    two, two_samples = launch_run(
        tiny_llama_dir, tmp_path / "two", 2, tmp_path / "cache-two", parallel
    )
    assert (one["training_processes"], two["training_processes"]) == (1, 2)
    assert (one["training_parallel"], two["training_parallel"]) == ("single", parallel)
    for a, b in zip(one["stages"], two["stages"]):
        assert [loss for _, loss in b["history"]] == pytest.approx(
            [loss for _, loss in a["history"]], rel=1e-4
        )
    assert two["target"]["tuned"]["score"] == one["target"]["tuned"]["score"]
    # The evaluations: every task's score, and every item's prompt and output, in the same order.
    for phase in ("before", "after"):
        assert {t: s["score"] for t, s in two[phase].items()} == pytest.approx(
            {t: s["score"] for t, s in one[phase].items()}, abs=1e-9
        )
    assert len(one_samples) == len(two_samples) > 8 * 3
    for a, b in zip(one_samples, two_samples):
        assert (b["phase"], b["task"], b["doc_id"], b["prompt"]) == (
            a["phase"],
            a["task"],
            a["doc_id"],
            a["prompt"],
        )
        assert b["output"] == a["output"]


def table_values(stdout: str) -> dict:
    """task -> value from lm-eval's printed table
    (|task|version|filter|n-shot|metric|dir|value|...)."""
    values = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if (
            len(cells) > 8
            and cells[1]
            and cells[5]
            and cells[7] not in ("", "Value")
            and "--" not in cells[7]
        ):
            values[cells[1].lstrip("- ")] = float(cells[7])
    return values


@pytest.mark.slow
def test_evaluation_splits_the_items_and_gathers_the_scores(tiny_llama_dir, tmp_path):
    """Under a 2-process launch each process serves about half the requests (lm-eval pads the
    shorter share), and every process gets the single process's scores and outputs."""
    for processes in (1, 2):
        out = tmp_path / f"eval-{processes}.json"
        env = {
            **os.environ,
            "OMP_NUM_THREADS": "1",
            "CUDA_VISIBLE_DEVICES": "",
            "PROMOT_BENCH_CACHE": str(tmp_path / "cache"),
        }
        done = subprocess.run(
            [
                *launcher(processes),
                str(WORKER),
                str(tiny_llama_dir),
                "eval",
                str(out),
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=WORKER.parent,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
    one = json.loads((tmp_path / "eval-1.rank0.json").read_text())
    main, helper = (json.loads((tmp_path / f"eval-2.rank{r}.json").read_text()) for r in (0, 1))
    assert one["served"] == 8 * 5  # 8 tasks, 5 items each
    assert main["served"] == helper["served"] == 8 * 3  # 3 and 2 items per task, the 2 padded to 3
    # every task's score and every output, in document order, on the main and the helper alike
    assert main["scores"] == helper["scores"] == one["scores"]


@pytest.mark.slow
def test_eval_is_data_parallel_under_accelerate_launch(tiny_llama_dir, tmp_path):
    """`accelerate launch ... promot-bench eval`: one table, the single process's scores."""
    arguments = ["eval", "--model", str(tiny_llama_dir), "--tasks", "promot_mini", "--limit", "5"]
    one = launch_cli(arguments, 1, tmp_path / "cache")
    two = launch_cli(arguments, 2, tmp_path / "cache")
    assert two.count("items in") == 1  # only the main process prints
    scores = table_values(one)
    assert len(scores) >= 8
    assert table_values(two) == pytest.approx(scores, abs=1e-9)
    assert "40 items" in one and "40 items" in two  # 8 tasks x 5 items, all gathered


@pytest.mark.slow
def test_sharded_run_resumes_as_if_uninterrupted(tiny_llama_dir, tmp_path):
    """FSDP checkpoints gather the sharded optimizer state on the main process; a run killed
    after its step-2 checkpoint and started again must end as an uninterrupted run does."""
    whole = train(tiny_llama_dir, "promot", tmp_path / "whole", 2, "fsdp")
    resumed = train(tiny_llama_dir, "promot", tmp_path / "resumed", 2, "fsdp", resume_at=2)
    assert (whole["resumed_from"], resumed["resumed_from"]) == (0, 2)
    assert [loss for _, loss in resumed["history"]] == pytest.approx(
        [loss for _, loss in whole["history"]], rel=1e-5
    )
    assert resumed["norm"] == pytest.approx(whole["norm"], rel=1e-6)


def test_unsupported_launcher_is_refused_in_one_line(monkeypatch):
    from promot_bench import processes
    from promot_bench.errors import UsageError

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    assert processes.launch_kind() == "fsdp"
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    with pytest.raises(UsageError, match="DeepSpeed launches are not supported"):
        processes.launch_kind()
