"""Fault injection for the reliability tests (tests/reliability/).

With PROMOT_BENCH_FAULT="POINT:N" set, the process kills itself with SIGKILL the N-th time it
passes `point(POINT)` — mid-write of a file, right after a training step, as an evaluation
starts — so that tests can interrupt a run at exact, reproducible moments;
"POINT:N:enospc" raises "No space left on device" there instead (a full disk). Unset (as
always outside those tests), `point` returns at once.
"""

from __future__ import annotations

import errno
import os
import signal

POINTS = ("write", "checkpoint", "step", "eval", "prompt-save", "png")
_passed: dict[str, int] = {}


def point(name: str) -> None:
    log = os.environ.get("PROMOT_BENCH_FAULT_LOG")
    if log:  # the tests learn from a clean run where the points are passed, in order
        with open(log, "a") as handle:
            handle.write(name + "\n")
    spec = os.environ.get("PROMOT_BENCH_FAULT")
    if not spec:
        return
    target, _, rest = spec.partition(":")
    if target != name:
        return
    count, _, action = rest.partition(":")
    _passed[name] = _passed.get(name, 0) + 1
    if _passed[name] == int(count or 1):
        if action == "enospc":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        os.kill(os.getpid(), signal.SIGKILL)
