"""Every file promot-bench writes is whole or absent: it is written to a temporary file beside
its place, then renamed over it (a rename within one folder is atomic), so a kill at any moment
leaves the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Iterator

from promot_bench.store import faults


@contextlib.contextmanager
def replacing(path: Path, fault: str | None = "write") -> Iterator[Path]:
    """A temporary path beside `path` for the block to write; renamed to `path` when the block
    ends, removed if it raises. `fault` names the reliability tests' kill point between the
    write and the rename (None: none). The temporary name (".<name>.<random>.tmp") is unique
    per writer, so two processes writing one path never share a temporary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        if fault is not None:
            faults.point(fault)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with replacing(path) as tmp, open(tmp, "xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def atomic_write_text(path: Path, text: str) -> None:
    with replacing(path) as tmp, open(tmp, "x", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
