"""Task-building cost of promot_suite on data sized like the real splits, offline.

Writes Parquet folders shaped like the Hub's exports, each split as many rows as the real one
(the test fixtures' rows repeated), points a copy of the suite's YAMLs at them (`path` becomes
the local folder, through the real `datasets.load_dataset` call) and times
`TaskManager.load(["promot_suite_4shot"])` — what lm-eval does before it scores anything —
in a fresh process, cold (empty datasets cache) and warm (the same cache again).

    python -m promot_bench.perf.suite_build                     # this checkout's tasks/suite
    python -m promot_bench.perf.suite_build --suite-dir OLD/tasks/suite   # e.g. an older commit

An older suite folder needs this package installed too (its utils import promot_bench).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from promot_bench.store.provenance import bench_header

CHECKOUT = Path(__file__).resolve().parents[2]  # benchmark/perf/ is two folders down
FIXTURES = CHECKOUT / "tests" / "fixtures" / "suite_data"
# Rows per split of the real datasets (their Hub cards); WikiLingua's English split counts
# are rounded (its card gives them per language pair).
REAL_ROWS = {
    "promot_cb": {"train": 250, "validation": 56},
    "promot_wic": {"train": 5_428, "validation": 638},
    "promot_triviaqa": {"train": 138_384, "validation": 17_944},
    "promot_webqs": {"train": 3_778, "test": 2_032},
    "promot_wmt16_en_de": {"validation": 2_169, "test": 2_999},
    "promot_wmt16_en_ro": {"validation": 1_999, "test": 1_999},
    "promot_xsum": {"train": 204_045, "test": 11_334},
    "promot_wikilingua": {"train": 99_000, "test": 28_600},
}
GROUP = "promot_suite_4shot"


def write_data(root: Path) -> None:
    """<root>/<task>/<split>/0000.parquet: the folder layout, which every YAML version reads."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for task, splits in REAL_ROWS.items():
        for split, rows in splits.items():
            lines = (FIXTURES / task / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
            seed = [json.loads(line) for line in lines if line.strip()]
            table = pa.Table.from_pylist([seed[i % len(seed)] for i in range(rows)])
            folder = root / task / _folder(task) / split
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, folder / "0000.parquet")


def _folder(task: str) -> str:
    """The config folder the summarization YAMLs' data_files name ("" for the others)."""
    return {"promot_xsum": "default", "promot_wikilingua": "en"}.get(task, "")


def point_suite_at(suite_dir: Path, data_root: Path, out: Path) -> None:
    """A copy of the suite whose task YAMLs read `data_root/<task>` instead of the Hub."""
    shutil.copytree(suite_dir, out)
    for path in out.rglob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        config = yaml.safe_load(text.replace("!function", "#"))  # only the data keys matter here
        task = config.get("task") if isinstance(config, dict) else None
        if not isinstance(task, str) or task not in REAL_ROWS:
            continue
        kwargs = config["dataset_kwargs"]
        spec = kwargs.get("promot_data", kwargs)  # this version's key, or an older flat one
        local = str(data_root / task)
        text = text.replace(f"path: {spec['path']}", f"path: {local}", 1)
        if spec.get("name"):  # a local folder has no named configs
            text = re.sub(rf"\n *name: {re.escape(spec['name'])}\n", "\n", text, count=1)
        path.write_text(text, encoding="utf-8")


TIMED = """
import sys, time
from lm_eval.tasks import TaskManager
start = time.perf_counter()
tasks = TaskManager(include_path=sys.argv[1], include_defaults=False).load([sys.argv[2]])["tasks"]
seconds = time.perf_counter() - start
print(seconds, sum(len(t.eval_docs) for t in tasks.values()), len(tasks))
"""


def time_build(suite: Path, cache: Path) -> tuple[float, int, int]:
    env = dict(
        os.environ, HF_DATASETS_CACHE=str(cache), HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1"
    )
    env.pop("PROMOT_BENCH_SUITE_DATA", None)
    done = subprocess.run(
        [sys.executable, "-c", TIMED, str(suite), GROUP],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"building {GROUP} from {suite} failed:\n{done.stderr[-3000:]}")
    seconds, items, tasks = done.stdout.split()
    return float(seconds), int(items), int(tasks)


def parse_args(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--suite-dir",
        type=Path,
        action="append",
        help="a tasks/suite folder to time; repeat to compare (default: this checkout's)",
    )
    parser.add_argument(
        "--work", type=Path, default=None, help="keep the data here (default: a temp dir)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="also write the figures as JSON here"
    )
    return parser.parse_args(argv)


def ensure_data(work: Path) -> Path:
    """<work>/data, written unless a previous run left it there."""
    data = work / "data"
    if not data.exists():
        started = time.perf_counter()
        write_data(data)
        print(f"wrote the data in {time.perf_counter() - started:.0f} s: {data}")
    return data


def time_suites(suites: list[Path], work: Path, data: Path) -> list[tuple]:
    """(suite folder, cold, warm) per suite, each a time_build result."""
    rows = []
    for suite_dir in suites:
        suite = work / f"suite-{time.time_ns()}"
        point_suite_at(suite_dir.resolve(), data, suite)
        cache = work / f"hf-cache-{time.time_ns()}"
        cold = time_build(suite, cache)
        warm = time_build(suite, cache)
        rows.append((suite_dir, cold, warm))
        shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(suite, ignore_errors=True)
    return rows


def print_table(rows: list[tuple]) -> None:
    print(f"{GROUP} ({rows[0][1][2]} tasks, {rows[0][1][1]} evaluated items): seconds to build")
    print(f"{'cold':>8} {'warm':>8}  suite (cold = empty datasets cache, warm = the same again)")
    for suite_dir, cold, warm in rows:
        print(f"{cold[0]:8.1f} {warm[0]:8.1f}  {suite_dir}")
    for suite_dir, cold, warm in rows[1:]:
        print(
            f"{suite_dir}: {rows[0][1][0] / cold[0]:.1f}x as fast as {rows[0][0]} cold, "
            f"{rows[0][2][0] / warm[0]:.1f}x warm"
        )


def write_json(out: Path, head: dict, rows: list[tuple]) -> None:
    from promot_bench.store.atomic import atomic_write_text

    atomic_write_text(
        out,
        json.dumps(
            {
                **head,
                "group": GROUP,
                "real_rows": REAL_ROWS,
                "suites": [
                    {
                        "suite_dir": str(d),
                        "cold_seconds": round(c[0], 1),
                        "warm_seconds": round(w[0], 1),
                        "tasks": c[2],
                        "evaluated_items": c[1],
                    }
                    for d, c, w in rows
                ],
            },
            indent=2,
        )
        + "\n",
    )


def main(argv=None) -> int:
    args = parse_args(argv)

    head = bench_header("suite_build", argv)
    suites = args.suite_dir or [CHECKOUT / "tasks" / "suite"]
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-suite-build-"))
    data = ensure_data(work)
    rows = time_suites(suites, work, data)
    print_table(rows)
    if args.out:
        write_json(args.out, head, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
