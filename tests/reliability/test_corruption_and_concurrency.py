"""Corrupt it, and run it twice at once. Damaged checkpoints, soft prompts, cached baselines, cached
data and result files are detected with a clear message and recomputed or refused, never used;
two processes on one cell, or on two cells sharing the baseline cache, both end correct."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from promot_bench.errors import RunError
from promot_bench.store import cache
from promot_bench.train.soft_prompt import SoftPrompt

pytestmark = pytest.mark.slow


def args(model: Path, out: Path, tuner: str = "ft", seed: int = 0) -> list[str]:
    return [
        "run",
        "--tuner",
        tuner,
        "--train",
        "nli",
        "--model",
        str(model),
        "--out",
        str(out),
        "--seed",
        str(seed),
        "--budget",
        "2",
        "--limit",
        "2",
        "--eval-tasks",
        "promot_mini_nli3",
        "--set",
        "batch_size=2",
        "--set",
        "prompt_length=3",
        "--set",
        "keep_best=true",
    ]  # keep-best: its validations are counted below


def start(argv, cache_dir: Path, log: Path | None = None):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PROMOT_BENCH_CACHE": str(cache_dir)}
    if log:
        env["PROMOT_BENCH_FAULT_LOG"] = str(log)
    return subprocess.Popen(
        [sys.executable, "-m", "promot_bench.cli", *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process) -> str:
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err
    return out


def scores(result: dict) -> dict:
    return {
        "before": result["before"],
        "after": result["after"],
        "target": result["target"],
        "weights": result["weights_sha256"],
    }


def result_of(out: Path, tuner: str = "ft", seed: int = 0) -> dict:
    # --budget 2 with keep-best: a budget other than the preset's own, in its own folder
    return json.loads(next(out.rglob(f"nli/{tuner}/steps2-best/seed{seed}.json")).read_text())


def test_two_processes_on_one_cell_train_once_and_agree(tiny_llama_dir, tmp_path):
    out, shared = tmp_path / "out", tmp_path / "cache"
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    first, second = (start(args(tiny_llama_dir, out), shared, log) for log in logs)
    finish(first), finish(second)
    steps = [log.read_text().split().count("step") if log.exists() else 0 for log in logs]
    assert sorted(steps) == [
        0,
        2,
    ]  # one process trained (2 steps); the other waited and read its result
    reference = tmp_path / "reference"
    finish(start(args(tiny_llama_dir, reference), tmp_path / "cache2"))
    assert scores(result_of(out)) == scores(result_of(reference))


def test_two_cells_sharing_the_baseline_cache_at_once(tiny_llama_dir, tmp_path):
    out, shared = tmp_path / "out", tmp_path / "cache"
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    ft, pt = (
        start(args(tiny_llama_dir, out, "ft"), shared, logs[0]),
        start(args(tiny_llama_dir, out, "pt"), shared, logs[1]),
    )
    finish(ft), finish(pt)
    assert result_of(out, "ft")["before"] == result_of(out, "pt")["before"]
    before = [result_of(out, t)["heldout_ce"]["per_document"]["before"] for t in ("ft", "pt")]
    assert before[0] == before[1]
    baselines = list((shared / "baselines").iterdir())
    assert (
        len([b for b in baselines if b.is_dir() and not b.name.startswith(".")]) == 3
    )  # suite, target and held-out text, once each
    assert not [b for b in baselines if ".building." in b.name]  # nothing half-built left
    # Each baseline ran once in all (lock); then each cell's own: ft validation, target, after;
    # pt validation, target and the probes with its prompt attached (its after is the baseline).
    evals = sum(log.read_text().split().count("eval") for log in logs)
    assert evals == 2 + 3 + 3


def test_a_damaged_checkpoint_is_refused_with_its_path(tiny_llama_dir, tmp_path):
    from promot_bench.models import specs
    from promot_bench.train.train_data import Example
    from promot_bench.tuners import FitContext, get, load_settings

    loaded = specs.load(specs.resolve(str(tiny_llama_dir)))
    folder = tmp_path / "work"
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "latest.pt").write_bytes(b"\x80\x02 not a checkpoint")
    ctx = FitContext(
        loaded.model,
        loaded.tokenizer,
        [Example("a b c", " d")] * 4,
        load_settings("cpu-small", {"steps": 2, "batch_size": 2, "keep_best": False}).train,
        folder,
        progress=False,
    )
    with pytest.raises(RunError, match=r"checkpoint .*latest.pt is damaged"):
        get("ft").fit(ctx)
    (folder / "model" / "latest.pt").unlink()
    (folder / "model" / "done.json").write_text("{}")
    (folder / "model" / "final.safetensors").write_bytes(b"garbage")
    with pytest.raises(RunError, match=r"final.safetensors is damaged"):
        get("ft").fit(ctx)


def test_a_damaged_soft_prompt_file_is_refused(llama, tmp_path):
    path = SoftPrompt.from_vocab(llama.model, 3).save(tmp_path / "p.safetensors")
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(RunError, match="damaged"):
        SoftPrompt.load(path)


def test_a_damaged_cached_baseline_is_recomputed(tiny_llama_dir, tmp_path):
    out, shared = tmp_path / "out", tmp_path / "cache"
    finish(start(args(tiny_llama_dir, out, "ft"), shared))
    for scores_file in (shared / "baselines").glob("*/scores.json"):
        text = scores_file.read_text()
        scores_file.write_text(text[:-10] + "#" * 9 + text[-1])  # same size, damaged content
    log = tmp_path / "pt.log"
    finish(start(args(tiny_llama_dir, out, "pt"), shared, log))
    # both baselines recomputed, then pt's keep-best validation, its target and the probes with
    # its prompt attached
    assert log.read_text().split().count("eval") == 5
    assert result_of(out, "pt")["before"] == result_of(out, "ft")["before"]


def test_damaged_data_is_rebuilt_not_used(tmp_path, monkeypatch):
    """Data built into the cache (a seed with no shipped build) is rebuilt when damaged; the
    shipped build is refused instead (tests/tasks/test_shipped_data.py), never written to."""
    from promot_bench.tasks.mini.build import SHIPPED, ensure_built

    monkeypatch.setenv("PROMOT_BENCH_CACHE", str(tmp_path / "cache"))
    folder = ensure_built(seed=7)
    assert SHIPPED not in folder.parents
    victim = next(folder.rglob("test.jsonl"))
    original = victim.read_bytes()
    victim.write_bytes(original.replace(b"True", b"Fals", 1))  # same size, different content
    assert cache.check_manifest(folder, full=True) is not None
    assert ensure_built(seed=7) == folder and victim.read_bytes() == original


def test_a_damaged_result_file_is_refused_by_run_and_leaderboard(tiny_llama_dir, tmp_path):
    from promot_bench.report import leaderboard

    out, shared = tmp_path / "out", tmp_path / "cache"
    finish(start(args(tiny_llama_dir, out), shared))
    path = next(out.rglob("seed0.json"))
    path.write_text(path.read_text()[:100])
    again = subprocess.run(
        [sys.executable, "-m", "promot_bench.cli", *args(tiny_llama_dir, out)],
        capture_output=True,
        text=True,
        env={**os.environ, "PROMOT_BENCH_CACHE": str(shared), "HF_HUB_OFFLINE": "1"},
    )
    assert (
        again.returncode == 1
        and "is damaged" in again.stderr
        and len(again.stderr.strip().splitlines()) == 1
    )
    with pytest.raises(RunError, match="damaged"):
        leaderboard.build(out)


def test_same_command_same_seed_gives_bit_identical_scores(tiny_llama_dir, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    finish(start(args(tiny_llama_dir, a, "promot"), tmp_path / "cache-a"))
    finish(start(args(tiny_llama_dir, b, "promot"), tmp_path / "cache-b"))
    ra, rb = result_of(a, "promot"), result_of(b, "promot")
    assert scores(ra) == scores(rb) and ra["soft_prompt_sha256"] == rb["soft_prompt_sha256"]
