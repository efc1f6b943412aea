"""The cache's promise: build once, atomically, detect and rebuild damaged entries."""

import multiprocessing as mp
import time
from pathlib import Path

from promot_bench.store import cache


def slow_build(out: Path) -> dict:
    (out / "log").mkdir(exist_ok=True)
    time.sleep(0.3)
    (out / "weights.bin").write_bytes(b"w" * 1000)
    # Count real builds in a file outside the entry.
    with open(out.parent / "builds.txt", "a") as log:
        log.write("built\n")
    return {"note": "test"}


def test_builds_once_then_reuses(tmp_path):
    final = tmp_path / "entry"
    calls = []
    cache.build_entry(final, lambda out: calls.append(out) or slow_build(out))
    cache.build_entry(final, lambda out: calls.append(out) or slow_build(out))
    assert len(calls) == 1
    assert cache.check_manifest(final, full=True) is None
    assert cache.read_manifest(final)["note"] == "test"


def _worker(folder: str) -> None:
    cache.build_entry(Path(folder) / "entry", slow_build)


def test_two_processes_build_one_intact_entry(tmp_path):
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(str(tmp_path),)) for _ in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    assert (tmp_path / "builds.txt").read_text().count("built") == 1
    assert cache.check_manifest(tmp_path / "entry", full=True) is None
    leftovers = [
        p.name for p in tmp_path.iterdir() if ".building." in p.name or ".stale." in p.name
    ]
    assert leftovers == []


def test_partial_and_damaged_entries_are_rebuilt(tmp_path):
    final = tmp_path / "entry"
    cache.build_entry(final, slow_build)
    (final / cache.MANIFEST).unlink()  # an interrupted build leaves no manifest
    assert cache.check_manifest(final) == "incomplete (no manifest)"
    cache.build_entry(final, slow_build)
    assert cache.check_manifest(final) is None

    (final / "weights.bin").write_bytes(b"w" * 10)  # truncated
    assert "wrong size" in cache.check_manifest(final)
    (final / "weights.bin").write_bytes(b"x" * 1000)  # same size, different bytes
    assert cache.check_manifest(final) is None  # the quick check cannot see it...
    assert "sha256" in cache.check_manifest(final, full=True)  # ...the full one does
    cache.build_entry(final, slow_build, full_check=True)
    assert (final / "weights.bin").read_bytes() == b"w" * 1000
    assert (tmp_path / "builds.txt").read_text().count("built") == 3


def test_failed_build_leaves_nothing(tmp_path):
    final = tmp_path / "entry"

    def broken(out: Path):
        (out / "half").write_text("x")
        raise RuntimeError("boom")

    try:
        cache.build_entry(final, broken)
    except RuntimeError:
        pass
    assert not final.exists()
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []
