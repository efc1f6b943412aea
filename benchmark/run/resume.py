"""What makes a run resumable: each finished step's output kept in the run's work folder, the
folder marked with the code that started it (a resume under other code is refused), and the
lock that lets one invocation at a time work on a cell."""

from __future__ import annotations

import json
import time
from pathlib import Path

from promot_bench import processes
from promot_bench.store import provenance
from promot_bench.store.atomic import atomic_write_text


def step(work: Path, name: str, compute, timings: dict):
    """Run `compute()` unless this step finished earlier; keep its JSON in the work folder (the
    main process writes it; every process gets the value)."""
    path = work / f"{name}.json"
    saved = processes.main_decides(lambda: saved_step(path))
    if saved is not None:
        timings[name] = saved["seconds"]
        return saved["value"]
    started = time.perf_counter()
    value = compute()
    timings[name] = round(time.perf_counter() - started, 2)
    if processes.is_main():
        atomic_write_text(path, json.dumps({"seconds": timings[name], "value": value}))
    return value


def saved_step(path: Path) -> dict | None:
    """A finished step's saved JSON, or None (a damaged one is removed: recomputed)."""
    if not path.is_file():
        return None
    try:
        saved = json.loads(path.read_text())
        return {"seconds": saved["seconds"], "value": saved["value"]}
    except (ValueError, KeyError):
        path.unlink()
        return None


WORK_IDENTITY = "code.json"


def work_identity() -> dict:
    """What a work folder's steps must share to be joined into one result: the code (its
    source hash) and the libraries' versions."""
    return {
        "source_sha256": provenance.code_identity()["source_sha256"],
        "versions": provenance.package_versions(),
    }


def claim_work(work: Path) -> str | None:
    """Mark a new work folder with this process's code identity, or check a resumed one's:
    a one-line refusal where it was started by other code or libraries (its steps would be
    mixed with ours in one result), else None."""
    path = work / WORK_IDENTITY
    ours = work_identity()
    if not path.is_file():
        started = [f.name for f in work.iterdir() if not f.name.startswith(".")]
        if started:  # steps written by a version that did not record its identity
            return (
                f"{work} holds an unfinished run whose code is not recorded "
                f"({', '.join(sorted(started)[:3])}): "
                "delete the folder to restart the cell"
            )
        atomic_write_text(path, json.dumps(ours, indent=1))
        return None
    try:
        theirs = json.loads(path.read_text())
    except ValueError:
        return f"{path} is damaged: delete {work} to restart the cell"
    if theirs.get("source_sha256") != ours["source_sha256"]:
        return (
            f"{work} was started by other code (source {str(theirs.get('source_sha256'))[:12]}, "
            "this is "
            f"{ours['source_sha256'][:12]}): resuming would mix two versions in one result; finish "
            "it with "
            "that code, or delete the folder to restart"
        )
    changed = sorted(
        k for k in ours["versions"] if (theirs.get("versions") or {}).get(k) != ours["versions"][k]
    )
    if changed:
        name = changed[0]
        return (
            f"{work} was started with other libraries ({name} "
            f"{theirs.get('versions', {}).get(name)}, this is "
            f"{ours['versions'][name]}): finish it with those, or delete the folder to restart"
        )
    return None
