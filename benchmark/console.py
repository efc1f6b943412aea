"""One readable progress view: our own stage lines and phase bars; the libraries' bars,
notices and subprocess stderr (lm-eval's per-task context bars and request bars, transformers'
weight-loading bars, `git describe` run by lm-eval) silenced unless `--verbose`
(PROMOT_BENCH_VERBOSE=1).

On a terminal a phase is one bar redrawn in place (tqdm); anywhere else (a file, a pipe, CI)
nothing is redrawn: one plain line per stage start and end, and a line at each quarter of a
phase. Progress goes to stderr, so stdout keeps the final table alone.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time

VERBOSE_ENV = "PROMOT_BENCH_VERBOSE"


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def quiet_libraries() -> None:
    """Before the libraries are imported: their bars and advisory notices off (env settings,
    so `--help` imports nothing)."""
    if verbose():
        return
    os.environ.setdefault(
        "TQDM_DISABLE", "1"
    )  # bars that do not pass disable= (lm-eval's context building)
    os.environ.setdefault(
        "HF_HUB_DISABLE_PROGRESS_BARS", "1"
    )  # hub, transformers and datasets bars
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("DATASETS_VERBOSITY", "error")
    import logging  # here, not at the top: 7 ms of `promot-bench --help`'s ~50

    # lm-eval warns once per task about what is by design here (custom datasets, a model object)
    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    import warnings

    # PEFT still asks transformers for this deprecated name when a LoRA adapter is attached:
    # nothing the user can act on, and it breaks the progress view.
    warnings.filterwarnings(
        "ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning
    )


_streams: list = []  # where our own progress goes while the libraries' stderr is silenced


def stream():
    """Where our progress lines and bars go: stderr, or inside `silenced_stderr` the real
    stderr it put aside (so a long evaluation pass still shows its own progress)."""
    return _streams[-1] if _streams else sys.stderr


@contextlib.contextmanager
def silenced_stderr():
    """The process's stderr (file descriptor 2: subprocesses and C code too) to /dev/null for
    the block, unless verbose; our own progress (`stream`) still reaches the real one. Python
    exceptions still propagate and are reported after it."""
    if verbose():
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    visible = os.fdopen(os.dup(saved), "w", buffering=1)
    _streams.append(visible)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        _streams.pop()
        visible.close()
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def interactive() -> bool:
    return stream().isatty()


def say(text: str) -> None:
    print(text, file=stream(), flush=True)


class Phase:
    """A counted phase (training steps): a tqdm bar on a terminal, else plain lines at each
    quarter (and at the end) with the rate and the time left."""

    def __init__(self, desc: str, total: int, initial: int = 0, enabled: bool = True):
        self.desc, self.total, self.done, self.enabled = desc, total, initial, enabled
        self.start_done, self.started, self.postfix = initial, time.perf_counter(), ""
        self.next_mark = self._mark_after(initial)
        self.bar = None
        if enabled and interactive():
            from tqdm.auto import tqdm

            self.bar = tqdm(
                desc=desc, total=total, initial=initial, leave=False, disable=False, file=stream()
            )

    def _mark_after(self, done: int) -> int:
        quarter = max(1, self.total // 4)
        return (done // quarter + 1) * quarter

    def set_postfix(self, **values) -> None:
        self.postfix = " ".join(f"{k} {v}" for k, v in values.items())
        if self.bar is not None:
            self.bar.set_postfix(**values)

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.enabled and (self.done >= self.next_mark or self.done == self.total):
            self.next_mark = self._mark_after(self.done)
            elapsed = time.perf_counter() - self.started
            rate = (self.done - self.start_done) / elapsed if elapsed > 0 else 0.0
            left = (
                f", {(self.total - self.done) / rate:.0f} s left"
                if rate > 0 and self.done < self.total
                else ""
            )
            say(
                f"  {self.desc}: {self.done}/{self.total} ({elapsed:.0f} "
                f"s{left}){' ' + self.postfix if self.postfix else ''}"
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
