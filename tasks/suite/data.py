"""Dataset loading for the promot_suite tasks (lm-eval `custom_dataset`).

Every task YAML inherits `custom_dataset: !function data.load_docs` from
`suite/_default_template_yaml`; its own `dataset_kwargs` name the Hub dataset, so the
data source stays configuration:

    dataset_kwargs:
      path: aps/super_glue        # Parquet-hosted Hub repo (datasets 4+ runs no scripts)
      name: cb                    # its config
      local_name: promot_cb       # folder used by the test-only override below

Optional keys: `revision`, `data_files` (passed to `datasets.load_dataset`), and
`stream_splits`: read only these splits by streaming them, for datasets whose unused
splits are huge (WMT train sets hold millions of sentence pairs).

Test-only override: when the environment variable PROMOT_BENCH_SUITE_DATA names a folder,
the splits come from `<folder>/<local_name>/<split>.jsonl` instead (rows in the Hub
dataset's own column schema), so tests run with no network.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import datasets

DATA_ENV = "PROMOT_BENCH_SUITE_DATA"


def load_docs(
    *,
    path: str,
    local_name: str,
    name: str | None = None,
    revision: str | None = None,
    data_files: dict[str, Any] | None = None,
    stream_splits: list[str] | None = None,
    **_metadata: Any,
) -> datasets.DatasetDict:
    """Return the task's splits; lm-eval also passes the task's metadata (ignored)."""
    local_root = os.environ.get(DATA_ENV)
    if local_root:
        return _load_local(Path(local_root) / local_name)
    hub_kwargs = {"revision": revision, "data_files": data_files}
    hub_kwargs = {k: v for k, v in hub_kwargs.items() if v is not None}
    if stream_splits:
        return _load_streamed(path, name, stream_splits, hub_kwargs)
    return datasets.load_dataset(path, name, **hub_kwargs)


def _load_local(folder: Path) -> datasets.DatasetDict:
    """One split per `<split>.jsonl` file in the folder."""
    files = sorted(folder.glob("*.jsonl"))
    if not files:
        raise FileNotFoundError(f"{DATA_ENV}: no <split>.jsonl files in {folder}")
    return datasets.DatasetDict({f.stem: _read_jsonl(f) for f in files})


def _read_jsonl(file: Path) -> datasets.Dataset:
    with file.open(encoding="utf-8") as fh:
        return datasets.Dataset.from_list([json.loads(line) for line in fh if line.strip()])


def _load_streamed(
    path: str, name: str | None, splits: list[str], hub_kwargs: dict[str, Any]
) -> datasets.DatasetDict:
    """Materialize only `splits`; a normal load would download every split first."""
    return datasets.DatasetDict(
        {
            split: datasets.Dataset.from_list(
                list(datasets.load_dataset(path, name, split=split, streaming=True, **hub_kwargs))
            )
            for split in splits
        }
    )
