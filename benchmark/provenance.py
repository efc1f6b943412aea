"""What every result file records so that it can be reproduced: versions, git commit, host."""

from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
from pathlib import Path

PACKAGES = ("torch", "transformers", "lm_eval", "peft", "datasets", "sacrebleu", "rouge_score", "promot-bench")


def package_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = version(name.replace("_", "-"))
        except PackageNotFoundError:
            found[name] = None
    return found


def git_commit() -> str | None:
    """The commit of the promot-bench checkout, with '+dirty' for uncommitted changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (commit + ("+dirty" if dirty else "")) or None


def machine() -> str:
    import os

    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def command_line(argv: list[str] | None = None) -> str:
    import shlex

    args = sys.argv[1:] if argv is None else argv
    return "promot-bench " + " ".join(shlex.quote(a) for a in args)


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
