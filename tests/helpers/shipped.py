"""The offline suites' data as shipped in the package (tests/tasks/test_shipped_data.py checks
that the builders made it), read as the builders return it: task -> split -> records."""

import json
from pathlib import Path

from promot_bench.tasks.mini import build as mini
from promot_bench.tasks.mini.builders.settings import SPLITS


def read(folder: Path, tasks) -> dict:
    return {
        task: {
            split: [
                json.loads(line)
                for line in (folder / task / f"{split}.jsonl").read_text("utf-8").splitlines()
            ]
            for split in SPLITS
        }
        for task in tasks
    }


def shipped(builder) -> dict:
    """A builder module's (`SUITE`, `SCHEMA_VERSION`, `TASKS`) shipped data at seed 1234."""
    return read(mini.shipped_folder(builder.SUITE, builder.SCHEMA_VERSION, 1234), builder.TASKS)
