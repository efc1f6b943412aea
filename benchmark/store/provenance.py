"""What every result file records so that it can be reproduced: versions, git commit, host."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGES = (
    "torch",
    "transformers",
    "lm_eval",
    "peft",
    "datasets",
    "sacrebleu",
    "rouge_score",
    "promot-bench",
)


def package_versions() -> dict:

    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = version(name.replace("_", "-"))
        except PackageNotFoundError:
            found[name] = None
    return found


# The code a result came from, whichever way the package was installed: its own source files
# (hashed), and a commit only where one is known to be promot-bench's.
PACKAGES_HASHED = {
    "promot_bench": "",
    "promot_bench.tuners": "tuners/",
    "promot_bench.tasks": "tasks/",
}
SOURCE_PATTERNS = ("*.py", "*.yaml", "*_yaml")
BUILD_INFO = "_build_info.json"  # written by setup.py into the built package


def code_identity() -> dict:
    """{version, source_sha256, commit, commit_from}: read once per process, at first use,
    so a run records the code it started with."""
    return dict(_code_identity())


@functools.lru_cache(maxsize=1)
def _code_identity() -> dict:

    try:
        installed = version("promot-bench")
    except PackageNotFoundError:
        installed = None
    commit, origin = git_commit(), "checkout"
    if commit is None:
        commit, origin = _built_commit(), "build"
    return {
        "version": installed,
        "source_sha256": source_sha256(),
        "commit": commit,
        "commit_from": origin if commit else None,
    }


def source_sha256() -> str:
    """sha256 over the package's code and task files (relative path, then bytes), laid out
    as installed: the same for an editable install and a wheel of the same source."""
    digest = hashlib.sha256()
    for relative, path in sorted(_source_files().items()):
        digest.update(relative.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _source_files() -> dict:

    # Installed, tuners/ and tasks/ lie inside promot_bench/ and are found twice under the
    # same relative name; editable, each package is its own folder of the checkout.
    files = {}
    for name, prefix in PACKAGES_HASHED.items():
        root = Path(next(iter(importlib.util.find_spec(name).submodule_search_locations)))
        for pattern in SOURCE_PATTERNS:
            for path in root.rglob(pattern):
                if "__pycache__" not in path.parts and path.is_file():
                    files[prefix + path.relative_to(root).as_posix()] = path
    return files


def git_commit() -> str | None:
    """The commit of the promot-bench checkout this code runs from, with '+dirty' for
    uncommitted changes; None when the code is not in a checkout of promot-bench itself (an
    installed package whose site-packages sits inside some other repository included)."""
    root = Path(__file__).resolve().parents[2]  # the checkout: benchmark/store/ is two folders down
    if not (root / "pyproject.toml").is_file() or not (root / "benchmark").is_dir():
        return None
    try:
        top = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if top.returncode != 0 or Path(top.stdout.strip()).resolve() != root:
            return None
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (commit + ("+dirty" if dirty else "")) or None


def _built_commit() -> str | None:
    info = Path(__file__).resolve().parents[1] / BUILD_INFO  # the package root
    try:
        return json.loads(info.read_text(encoding="utf-8")).get("commit")
    except (OSError, ValueError):
        return None


def machine() -> str:
    """The system, its CPU model (two CPUs of one machine kind differ 2x in speed and in a
    loss's last digits), cores and Python."""
    system = f"{platform.system()} {platform.machine()}"
    cpu = cpu_model()
    return (
        f"{system}{f', {cpu}' if cpu else ''}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )


def cpu_model() -> str | None:
    """The CPU's name (timings compare only as ratios within one run on one CPU)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or None
    return next(
        (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), None
    )


def identity() -> dict:
    """What every result and speed file records of the code and the machine that made it.
    `code` is read once per process, at its first use (a run calls `code_identity()` first)."""
    code = code_identity()
    return {
        "code": code,
        "git_commit": code["commit"],  # kept for readers of schema 2: the same as code.commit
        "versions": package_versions(),
        "machine": machine(),
    }


def header(command: str, argv: list[str] | None = None) -> dict:
    """The fields every result file begins with: how to reproduce it and what code made it."""
    return {
        "command": command,  # reproduces this result alone
        "invoked_as": command_line(argv),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **identity(),
    }


def bench_header(script: str, argv: list[str] | None = None) -> dict:
    """The fields every speed script's JSON begins with (`script`: its name in perf/): the
    command that reproduces it, `identity()`, the CPU model and the date. Call it before the
    measurement, so the code recorded is the code measured."""
    return {
        "command": command_line(argv, f"python -m promot_bench.perf.{script}"),
        **identity(),
        "cpu": cpu_model(),
        "date": time.strftime("%Y-%m-%d"),
    }


def command_line(argv: list[str] | None = None, program: str = "promot-bench") -> str:
    """`program` and the arguments (this process's, by default), quoted as a shell needs them."""
    args = sys.argv[1:] if argv is None else argv
    return " ".join([program, *map(shlex.quote, args)])


def hash_tree(folder: Path, patterns=("*.yaml", "*_yaml", "*.py")) -> str:
    """A content hash of a task folder: any prompt or scoring change makes a new one."""
    digest = hashlib.sha256()
    for pattern in patterns:
        for path in sorted(folder.rglob(pattern)):
            if "__pycache__" in path.parts or not path.is_file():
                continue
            digest.update(path.relative_to(folder).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()
