"""Dataset loading for promot_mini v2's translation target (lm-eval `custom_dataset`): the
shipped build (`build.ensure_built`)."""

from __future__ import annotations

from typing import Any

import datasets

from promot_bench.tasks.mini.data import read_splits
from promot_bench.tasks.mini.translation.build import ensure_built


def load_docs(*, task: str, **_metadata: Any) -> datasets.DatasetDict:
    return read_splits(ensure_built() / task)
