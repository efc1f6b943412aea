"""The one reader of run result files: a result's content, checked against the published schema
(`result.RunResult`) before anyone reads a key of it."""

from __future__ import annotations

import json
from pathlib import Path

from promot_bench.errors import RunError
from promot_bench.store.result import problem


class UnreadableResult(RunError):
    """A result file that is missing, not JSON, or not a run result (`reason`: one line)."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


def read(path: Path) -> dict:
    """The file's content, checked against the schema; `UnreadableResult` where it is not a run
    result."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UnreadableResult(path, "no such result file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UnreadableResult(path, f"unreadable ({type(exc).__name__})") from None
    try:
        content = json.loads(text)
    except ValueError as exc:
        raise UnreadableResult(path, f"not JSON ({type(exc).__name__})") from None
    wrong = problem(content)
    if wrong is not None:
        raise UnreadableResult(path, f"not a run result ({wrong})")
    return content
