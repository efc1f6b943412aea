"""Many `promot-bench` command lines in one Python process: a bad-input table pays for importing
torch and the CLI once, not once a row (about 4 s a row on 2 cores). Each row gets its own
environment and its own stdout/stderr, captured at the file descriptors, so what a library
writes there is seen as a separate process would show it. The bad-input table keeps a real process
for each command that imports the heavy libraries beside this, for what only a fresh process
shows (import-time output)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def run_many(
    cases: list[tuple[list[str], dict]], timeout: float = 900
) -> list[subprocess.CompletedProcess]:
    """Run each (argv, environment) row through `promot_bench.cli.main` in one child process."""
    with tempfile.TemporaryDirectory() as scratch:
        spec, found = Path(scratch, "spec.json"), Path(scratch, "done.json")
        spec.write_text(json.dumps([{"args": a, "env": e} for a, e in cases]))
        child = subprocess.run(
            [sys.executable, __file__, str(spec), str(found)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert child.returncode == 0, child.stderr[-2000:]
        return [
            subprocess.CompletedProcess(a, **row)
            for (a, _), row in zip(cases, json.loads(found.read_text()))
        ]


def _run_one(args: list[str], env: dict) -> dict:
    from promot_bench import cli

    os.environ.clear()
    os.environ.update(env)
    streams = {}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        saved = {fd: os.dup(fd) for fd in (1, 2)}
        sys.stdout.flush(), sys.stderr.flush()
        os.dup2(out.fileno(), 1), os.dup2(err.fileno(), 2)
        try:
            code = cli.main(args)
        except SystemExit as exc:  # argparse's own exits
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        finally:
            sys.stdout.flush(), sys.stderr.flush()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
        for name, stream in (("stdout", out), ("stderr", err)):
            stream.seek(0)
            streams[name] = stream.read()
    return {"returncode": code, **streams}


if __name__ == "__main__":
    rows = json.loads(Path(sys.argv[1]).read_text())
    done = [_run_one(row["args"], row["env"]) for row in rows]
    Path(sys.argv[2]).write_text(json.dumps(done))
