"""Data-parallel training (benchmark/distributed.py) on CPU: two processes over gloo, launched
the way the README documents (`accelerate launch --multi_gpu --num_processes 2`), must train
exactly as one process does: the same loss at every step and the same final weights, within
float tolerance, for `ft` and for ProMoT's model stage (soft prompt attached)."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).parent / "distributed_worker.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train(model_dir, kind, tmp_path, processes: int) -> dict:
    out, work = tmp_path / f"{kind}-{processes}.json", tmp_path / f"work-{kind}-{processes}"
    args = [str(WORKER), str(model_dir), kind, str(out), str(work)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    if processes == 1:
        command = [sys.executable, *args]
    else:
        command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
                   str(processes), "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                   "--main_process_port", str(free_port()), *args]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=WORKER.parent, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["ft", "promot"])
def test_two_processes_train_as_one(tiny_llama_dir, tmp_path, kind):
    one = train(tiny_llama_dir, kind, tmp_path, 1)
    two = train(tiny_llama_dir, kind, tmp_path, 2)
    losses_one = [loss for _, loss in one["history"]]
    losses_two = [loss for _, loss in two["history"]]
    assert len(losses_one) == 4
    assert losses_two == pytest.approx(losses_one, rel=1e-4, abs=1e-5)
    assert losses_one[0] != pytest.approx(losses_one[-1], abs=1e-3)  # it did train
    for name, values in one["weights"].items():
        assert two["weights"][name] == pytest.approx(values, abs=1e-4), name
    assert two["norm"] == pytest.approx(one["norm"], rel=1e-5)


def launch_run(tiny_llama_dir, out, processes: int, cache):
    run = ["-m", "promot_bench.cli", "run", "--model", str(tiny_llama_dir), "--tuner", "promot", "--train", "nli",
           "--steps", "2", "--limit", "2", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", "PROMOT_BENCH_CACHE": str(cache)}
    launcher = [sys.executable] if processes == 1 else [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(free_port())]
    done = subprocess.run([*launcher, *run], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("result: ") == 1  # only the main process reports
    return json.loads(next(out.rglob("seed0.json")).read_text())


@pytest.mark.slow
def test_runner_under_accelerate_launch(tiny_llama_dir, tmp_path):
    """`accelerate launch ... promot-bench run`: the main process evaluates and writes one
    result, the helper trains beside it; the result equals a single-process run's."""
    cache = tmp_path / "cache"
    one = launch_run(tiny_llama_dir, tmp_path / "one", 1, cache)
    two = launch_run(tiny_llama_dir, tmp_path / "two", 2, cache)
    assert (one["training_processes"], two["training_processes"]) == (1, 2)
    for a, b in zip(one["stages"], two["stages"]):
        assert [loss for _, loss in b["history"]] == pytest.approx([loss for _, loss in a["history"]], rel=1e-4)
    assert two["target"]["tuned"]["score"] == one["target"]["tuned"]["score"]
