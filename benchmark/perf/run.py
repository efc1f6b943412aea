"""End-to-end time of the default `promot-bench run --tuner promot --train nli`, cold and warm.

Cold: an empty cache (model fetch and conversion, data build, baseline evaluation). Warm: the
same command again into a fresh results folder, reusing the cache (baseline included). Each is
a separate process, timed by wall clock. Prints both and writes them to a JSON.

    python -m promot_bench.perf.run --out results/bench/end-to-end.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from promot_bench.store.atomic import atomic_write_text
from promot_bench.store.provenance import bench_header

COMMAND = ["run", "--tuner", "promot", "--train", "nli"]


def timed_run(cache: Path, out: Path) -> float:
    env = {**os.environ, "PROMOT_BENCH_CACHE": str(cache)}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "promot_bench.cli", *COMMAND, "--out", str(out)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="write the figures to this JSON")
    args = parser.parse_args(argv)
    head = bench_header("run", argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cold = timed_run(tmp / "cache", tmp / "cold")
        print(f"cold: {cold:.0f} s", flush=True)
        warm = timed_run(tmp / "cache", tmp / "warm")
        print(f"warm: {warm:.0f} s", flush=True)
    if args.out:
        atomic_write_text(
            args.out,
            json.dumps(
                {
                    **head,
                    "measures": "promot-bench " + " ".join(COMMAND),
                    "cold_seconds": round(cold, 1),
                    "warm_seconds": round(warm, 1),
                },
                indent=1,
            ),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
