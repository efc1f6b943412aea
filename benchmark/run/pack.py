"""Pack a results folder for committing: `python -m promot_bench.run.pack results`.

Every samples file under `<out>/runs` to the packed format runs write today (format 2,
evaluate/samples.py: whatever older layout it has) and every result file to the text runs write
today (`record.result_text`: compact JSON). The content is unchanged — every item and every
number reads back equal — and a packed folder packs to itself. Files in a run's work folder
(`*.work`) are left alone: their run is not finished.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from promot_bench.evaluate.samples import compress_tree
from promot_bench.run.record import result_text
from promot_bench.store.atomic import atomic_write_text


def compact_results(out: Path) -> list[tuple[Path, int, int]]:
    """Every result file under out/runs rewritten as `result_text` where it is not already;
    (path, bytes before, after) for each one changed."""
    done = []
    for path in sorted(Path(out, "runs").glob("**/seed*.json")):
        if any(part.endswith(".work") for part in path.parts):
            continue
        text = path.read_text(encoding="utf-8")
        packed = result_text(json.loads(text))
        if packed != text:
            atomic_write_text(path, packed)
            done.append((path, len(text.encode()), len(packed.encode())))
    return done


def pack(out: Path) -> list[tuple[Path, int, int]]:
    return compress_tree(out) + compact_results(out)


if __name__ == "__main__":
    total = [0, 0]
    for path, before, after in pack(Path(sys.argv[1] if len(sys.argv) > 1 else "results")):
        total[0], total[1] = total[0] + before, total[1] + after
        print(f"{path}: {before:,} -> {after:,} bytes")
    print(f"{total[0]:,} -> {total[1]:,} bytes in all", file=sys.stderr)
