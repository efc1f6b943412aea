"""Kill it: `promot-bench run`, `sweep` and `leaderboard` are SIGKILLed at seeded random moments
spread over every stage, then started again. Each rerun must finish, reuse what was finished,
and produce the result an uninterrupted run produces (scores, and weights and prompt by hash);
nothing under the results folder is ever left truncated, and earlier results never change.

The moments come from a clean reference run that logs every fault point it passes
(`promot_bench.store.faults`): mid-write of any file, after any training step, at a checkpoint
write, as any evaluation starts, mid-save of the soft prompt or of a plot.
"""

import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

RUN_KILLS = 16  # + 3 sweep kills + 2 leaderboard kills = 21 interruptions
SEED = 20261126


def cli(args, cache: Path, env_extra: dict | None = None):
    env = {
        **os.environ,
        "PROMOT_BENCH_CACHE": str(cache),
        "HF_HUB_OFFLINE": "1",
        **(env_extra or {}),
    }
    env.pop("PROMOT_BENCH_FAULT", None)
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "promot_bench.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def cell_args(model_dir: Path, out: Path, sweep: bool = False) -> list[str]:
    return [
        "--train",
        "nli",
        "--model",
        str(model_dir),
        "--out",
        str(out),
        "--budgets" if sweep else "--budget",
        "2",
        "--limit",
        "2",
        "--eval-tasks",
        "promot_mini_nli3,promot_mini_en_de",
        "--set",
        "batch_size=2",
        "--set",
        "prompt_length=3",
        "--set",
        "checkpoint_every=1",
        "--set",
        "prompt_checkpoint_every=1",
        "--set",
        "keep_best=true",
    ]  # a budget with keep-best: validation evaluations are kill points too


def run_args(model_dir: Path, out: Path, tuner: str = "promot") -> list[str]:
    return ["run", "--tuner", tuner, *cell_args(model_dir, out)]


def essence(result: dict) -> dict:
    """What must not depend on interruptions: every score, and the weights and prompt by hash."""
    return {
        "before": result["before"],
        "after": result["after"],
        "target": result["target"],
        "weights": result["weights_sha256"],
        "prompt": result["soft_prompt_sha256"],
        "stages": [
            (s["name"], s["steps"], s["final_loss"], s["history"]) for s in result["stages"]
        ],
    }


def files_are_whole(out: Path, temporaries_allowed: bool = False) -> None:
    """Every file under `out` is complete: JSON parses, safetensors load, PNGs end; no temporaries
    (a killed process's own temporary is allowed until the next run removes it)."""
    from safetensors.torch import load_file

    for path in out.rglob("*"):
        if not path.is_file():
            continue
        if path.name.endswith(".tmp"):
            assert temporaries_allowed, f"temporary file left behind: {path}"
            continue
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".jsonl":
            [json.loads(line) for line in path.read_text().splitlines()]
        elif path.suffix == ".safetensors":
            load_file(str(path))
        elif path.suffix == ".png":
            assert path.read_bytes().endswith(b"IEND\xaeB`\x82"), path


def digest_tree(folder: Path) -> dict:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def reference(tiny_llama_dir, tmp_path_factory):
    """A clean run, logging every fault point passed; its cache's built data is reused below."""
    root = tmp_path_factory.mktemp("reference")
    log = root / "points.log"
    # Build the offline data first: the runs below start with it built, so their points line up.
    built = subprocess.run(
        [
            sys.executable,
            "-c",
            "from promot_bench.run.runner import SUITES; SUITES['v2'].ensure_built()",
        ],
        env={**os.environ, "PROMOT_BENCH_CACHE": str(root / "cache")},
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    done = cli(
        run_args(tiny_llama_dir, root / "out"), root / "cache", {"PROMOT_BENCH_FAULT_LOG": str(log)}
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(next((root / "out").rglob("seed0.json")).read_text())
    passes, seen = [], {}
    for name in log.read_text().split():
        seen[name] = seen.get(name, 0) + 1
        passes.append((name, seen[name]))
    return {"result": result, "passes": passes, "cache": root / "cache", "out": root / "out"}


def fresh_cache(reference, folder: Path) -> Path:
    """The reference's cache without its baselines (those can be interrupted too): its built data
    where the data was built there (slow), nothing where the package ships it."""
    cache = folder / "cache"
    built = reference["cache"] / "data"
    if built.exists():
        shutil.copytree(built, cache / "data")
    cache.mkdir(parents=True, exist_ok=True)
    return cache


def moments(passes: list, count: int, seed: int) -> list:
    """`count` fault points spread evenly over the whole run, each jittered within its stretch."""
    rng = random.Random(seed)
    width = len(passes) / count
    return [
        passes[min(len(passes) - 1, int(i * width + rng.random() * width))] for i in range(count)
    ]


def test_the_reference_passes_every_kind_of_moment(reference):
    kinds = {name for name, _ in reference["passes"]}
    assert {"write", "checkpoint", "step", "eval", "prompt-save"} <= kinds
    assert len(reference["passes"]) >= RUN_KILLS


@pytest.mark.parametrize("number", range(RUN_KILLS))
def test_a_run_killed_anywhere_resumes_to_the_same_result(
    number, reference, tiny_llama_dir, tmp_path
):
    point, count = moments(reference["passes"], RUN_KILLS, SEED)[number]
    cache, out = fresh_cache(reference, tmp_path), tmp_path / "out"
    earlier = out / "runs" / "earlier"  # an earlier result in the same folder: must never change
    shutil.copytree(next(reference["out"].rglob("seed0.json")).parent, earlier)
    before_digest = digest_tree(earlier)

    killed = cli(run_args(tiny_llama_dir, out), cache, {"PROMOT_BENCH_FAULT": f"{point}:{count}"})
    assert killed.returncode == -9, (
        f"{point}:{count} was not reached ({killed.returncode}): {killed.stderr[-500:]}"
    )
    resumed = cli(run_args(tiny_llama_dir, out), cache)
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(
        next((out / "runs").glob("*/*/nli/promot/steps2-best/seed0.json")).read_text()
    )
    assert essence(result) == essence(reference["result"]), f"killed at {point}:{count}"
    files_are_whole(out)
    assert digest_tree(earlier) == before_digest
    assert not list(out.rglob("*.work"))  # the work folder is gone once the result is written


@pytest.mark.parametrize("kill", ["write:2", "step:2", "eval:3"])
def test_a_sweep_killed_in_its_second_cell_keeps_the_first_and_finishes(
    kill, reference, tiny_llama_dir, tmp_path
):
    cache, out = fresh_cache(reference, tmp_path), tmp_path / "out"
    sweep = ["sweep", "--tuners", "pt,ft", *cell_args(tiny_llama_dir, out, sweep=True)]
    first = cli(
        run_args(tiny_llama_dir, out, tuner="pt"), cache
    )  # the sweep's first cell, finished
    assert first.returncode == 0, first.stderr
    cell = next((out / "runs").glob("*/*/nli/pt"))
    first_digest = digest_tree(cell)
    killed = cli(sweep, cache, {"PROMOT_BENCH_FAULT": kill})
    assert killed.returncode == -9, killed.stderr[-500:]
    assert digest_tree(cell) == first_digest
    finished = cli(sweep, cache)
    assert finished.returncode == 0, finished.stderr
    assert "pt on nli, 2 steps, seed 0: finished earlier" in finished.stderr  # progress
    assert digest_tree(cell) == first_digest
    ft = json.loads(next((out / "runs").glob("*/*/nli/ft/steps2-best/seed0.json")).read_text())
    clean = cli(run_args(tiny_llama_dir, tmp_path / "clean", tuner="ft"), cache)
    assert clean.returncode == 0
    assert essence(ft) == essence(
        json.loads(next((tmp_path / "clean").rglob("ft/steps2-best/seed0.json")).read_text())
    )
    files_are_whole(out)


@pytest.mark.parametrize("kill", ["write:2", "png:1"])
def test_a_killed_leaderboard_build_leaves_the_old_one_whole_and_rebuilds_identically(
    kill, reference, tmp_path
):
    out = tmp_path / "out"
    shutil.copytree(reference["out"], out)
    cache = tmp_path / "cache"
    assert cli(["leaderboard", "--out", str(out)], cache).returncode == 0
    built = digest_tree(out)
    killed = cli(["leaderboard", "--out", str(out)], cache, {"PROMOT_BENCH_FAULT": kill})
    assert killed.returncode == -9
    files_are_whole(
        out, temporaries_allowed=True
    )  # the killed write's temporary; every real file whole
    assert cli(["leaderboard", "--out", str(out)], cache).returncode == 0
    files_are_whole(out)
    assert digest_tree(out) == built
