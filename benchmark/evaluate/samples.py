"""A run's samples file: one item per line, with its `phase` — before, after,
target_pretrained, target_tuned — and its `task`; gzip-compressed (`seed<k>.samples.jsonl.gz`)
since the committed results outgrew a lean repository (a tenth of the size), plain in results
written before. Readers take both: a result names its file, and where that plain file is gone
its compressed one (`<name>.gz`, what `compress_tree` leaves) is read in its place.

The leaderboard needs each file several times (mde over seeds, versus ft, flips of older
results): it is parsed once per path and content (modification time and size), and callers
share the parsed items read-only."""

from __future__ import annotations

import functools
import gzip
import io
import json
import os
from pathlib import Path

SUFFIX = ".gz"


def locate(path) -> Path | None:
    """The samples file a result names, or its compressed copy; None where neither is."""
    path = Path(path)
    for candidate in (path, path.with_name(path.name + SUFFIX)):
        if candidate.is_file():
            return candidate
    return None


def by_phase(path) -> dict:
    """phase -> task -> the items, in file order."""
    found = locate(path)
    if found is None:
        raise FileNotFoundError(path)
    stat = os.stat(found)
    return _parsed(os.fspath(found), stat.st_mtime_ns, stat.st_size)


def items(path) -> list[dict]:
    """Every item of a samples file, in file order."""
    found = locate(path)
    if found is None:
        raise FileNotFoundError(path)
    with opened(found) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def opened(path: Path):
    if path.name.endswith(SUFFIX):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


@functools.lru_cache(maxsize=64)
def _parsed(path: str, mtime_ns: int, size: int) -> dict:
    phases: dict = {}
    with opened(Path(path)) as handle:
        for line in handle:
            if line.strip():
                item = json.loads(line)
                phases.setdefault(item["phase"], {}).setdefault(item["task"], []).append(item)
    return phases


def compressed(text: str) -> bytes:
    """gzip with no name and no time in its header: the same text, the same bytes."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as gz:
        gz.write(text.encode("utf-8"))
    return buffer.getvalue()


def compress_tree(out: Path) -> list[tuple[Path, int, int]]:
    """Every plain samples file under out/runs replaced by its compressed copy (whole or absent:
    written beside it, then the plain one removed); (path, bytes before, after) for each."""
    from promot_bench.store.atomic import atomic_write_bytes

    done = []
    for path in sorted(Path(out, "runs").glob("**/*.samples.jsonl")):
        if any(part.endswith(".work") for part in path.parts):
            continue
        data = compressed(path.read_text(encoding="utf-8"))
        target = path.with_name(path.name + SUFFIX)
        atomic_write_bytes(target, data)
        done.append((target, path.stat().st_size, len(data)))
        path.unlink()
    return done


if __name__ == "__main__":  # python -m promot_bench.evaluate.samples RESULTS_FOLDER
    import sys

    total = [0, 0]
    for path, before, after in compress_tree(Path(sys.argv[1] if len(sys.argv) > 1 else "results")):
        total[0], total[1] = total[0] + before, total[1] + after
        print(f"{path}: {before:,} -> {after:,} bytes")
    print(f"{total[0]:,} -> {total[1]:,} bytes in all", file=sys.stderr)
