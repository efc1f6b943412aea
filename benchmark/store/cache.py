"""Where promot-bench keeps what it builds (converted models, task data, baselines), and how it
writes there safely.

`$PROMOT_BENCH_CACHE` wins; otherwise the platform's user cache dir. Everything is built in a
temporary sibling folder and renamed into place, under a file lock, so two processes never
see (or leave) a half-built entry.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from filelock import FileLock

from promot_bench.store.atomic import atomic_write_text

MANIFEST = "promot_bench_manifest.json"


def cache_dir() -> Path:
    env = os.environ.get("PROMOT_BENCH_CACHE")
    if env:
        root = Path(env).expanduser()
    else:
        import platformdirs

        root = Path(platformdirs.user_cache_dir("promot-bench"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: Path, extra: dict | None = None) -> dict:
    """Record size and sha256 of every file; written last, so its presence marks completion."""
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            rel = path.relative_to(folder).as_posix()
            files[rel] = {"size": path.stat().st_size, "sha256": sha256_file(path)}
    manifest = {"files": files, **(extra or {})}
    atomic_write_text(folder / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


def read_manifest(folder: Path) -> dict | None:
    try:
        return json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def check_manifest(folder: Path, full: bool = False) -> str | None:
    """Return None when the folder is complete and intact, else what is wrong with it.

    The quick check compares sizes (cheap enough for every load); `full` rehashes every file.
    """
    manifest = read_manifest(folder)
    if manifest is None:
        return "incomplete (no manifest)"
    for rel, meta in manifest.get("files", {}).items():
        path = folder / rel
        if not path.is_file():
            return f"missing file {rel}"
        if path.stat().st_size != meta["size"]:
            return f"file {rel} has the wrong size"
        if full and sha256_file(path) != meta["sha256"]:
            return f"file {rel} fails its sha256 check"
    return None


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        yield


def build_entry(
    final: Path, build: Callable[[Path], dict | None], full_check: bool = False
) -> Path:
    """Make sure `final` holds a complete build; build it with `build(tmp_dir)` if not.

    `build` fills the temporary folder and may return extra manifest fields. A present but
    damaged entry is moved aside and rebuilt.
    """
    if check_manifest(final, full=full_check) is None:
        return final
    with locked(final):
        if check_manifest(final, full=full_check) is None:  # another process finished it
            return final
        write_entry(final, build)
    return final


def write_entry(final: Path, build: Callable[[Path], dict | None]) -> None:
    """Build `final` afresh in a temporary sibling and swap it in; the caller holds
    `locked(final)`."""
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.building."))
    try:
        extra = build(tmp)
        write_manifest(tmp, extra)
        if final.exists():
            trash = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.stale."))
            os.replace(final, trash / "old")
            shutil.rmtree(trash, ignore_errors=True)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
