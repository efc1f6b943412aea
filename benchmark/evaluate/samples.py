"""Reading a run's samples file (`seed<k>.samples.jsonl`: one item per line, with its `phase` —
before, after, target_pretrained, target_tuned — and its `task`). The leaderboard needs each
file several times (mde over seeds, versus ft, flips of older results): it is parsed once per
path and content (modification time and size), and callers share the parsed items read-only."""

from __future__ import annotations

import functools
import json
import os


def by_phase(path: str) -> dict:
    """phase -> task -> the items, in file order."""
    stat = os.stat(path)
    return _parsed(os.fspath(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _parsed(path: str, mtime_ns: int, size: int) -> dict:
    phases: dict = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                item = json.loads(line)
                phases.setdefault(item["phase"], {}).setdefault(item["task"], []).append(item)
    return phases
