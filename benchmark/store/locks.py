"""Locks kept in the cache (so results/ holds nothing but results), and the temporary files a
killed writer leaves beside its target."""

from __future__ import annotations

import hashlib
from pathlib import Path

from promot_bench.store.cache import cache_dir


def lock_path(path: Path) -> Path:
    """A lock for `path` kept in the cache, so results/ holds nothing but results."""
    return cache_dir() / "locks" / hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:24]


def remove_stale_temporaries(folder: Path) -> None:
    """Temporary files a killed run left beside its results (".<name>.<random>.tmp"): never
    read, but not left lying around either."""
    if folder.is_dir():
        for stale in folder.glob(".*.tmp"):
            stale.unlink(missing_ok=True)
