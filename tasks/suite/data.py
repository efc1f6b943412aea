"""Dataset loading for the promot_suite tasks (lm-eval `custom_dataset`).

Every task YAML inherits `custom_dataset: !function data.load_docs` from
`suite/_default_template_yaml`; its own `dataset_kwargs` name the Hub dataset under one key,
`promot_data`, so the data source stays configuration:

    dataset_kwargs:
      promot_data:
        task: promot_cb             # the task's name: error messages, the test override
        path: aps/super_glue        # Parquet-hosted Hub repo (datasets 4+ runs no scripts)
        name: cb                    # its config
        columns: [premise, hypothesis, label]   # what the prompt and scoring read
        fewshot_split: train        # the demonstrations' split: only its head is read

One key because lm-eval calls `custom_dataset(**metadata, **dataset_kwargs)`, and the stock
CLI merges `--model_args` into the metadata: a model's `revision=` would otherwise become the
dataset's revision (or a duplicate-keyword TypeError). Stray metadata is ignored.

Optional keys: `revision`, `data_files` (passed to `datasets.load_dataset`; a list of
patterns per split lets one YAML read every layout the Hub's exports have used, since a
wildcard that matches nothing is skipped), `stream_splits`: read only these splits, by
streaming them, for datasets whose unused splits are huge (WMT train sets hold millions of
pairs), and `head_rows` ({split: n}): read only the first n rows of a split. The few-shot
split is cut to its first `FEWSHOT_ROWS` rows, streamed when the Hub is read: lm-eval lists
the whole few-shot split and runs `process_docs` over it, while `sampler: first_n` uses only
its first k rows.

Test-only override: when the environment variable PROMOT_BENCH_SUITE_DATA names a folder,
the splits come from `<folder>/<task>/<split>.jsonl` instead (rows in the Hub dataset's own
column schema), so tests run with no network.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Any

import datasets

from promot_bench.errors import UsageError
from promot_bench.tasks import MAX_SHOTS

DATA_ENV = "PROMOT_BENCH_SUITE_DATA"
# One spare row: first_n drops the evaluated row from the demonstrations when the few-shot
# split is also the evaluated split (a user's override; no suite task does that).
FEWSHOT_ROWS = MAX_SHOTS + 1


class DataError(UsageError):
    """A task's data is missing or not as its YAML expects (one line: task, source, what)."""


def load_docs(*, promot_data: dict[str, Any], **_metadata: Any) -> datasets.DatasetDict:
    """Return the task's splits; lm-eval also passes the task's metadata (ignored)."""
    spec = dict(promot_data)
    task = spec.pop("task")
    columns = spec.pop("columns", [])
    heads = dict(spec.pop("head_rows", None) or {})
    if spec.get("fewshot_split"):
        heads[spec.pop("fewshot_split")] = FEWSHOT_ROWS
    local_root = os.environ.get(DATA_ENV)
    if local_root:
        source = str(Path(local_root) / task)
        splits = _load_local(Path(source), task, heads)
    else:
        source = _describe(spec)
        splits = _load_hub(task, source, heads, **spec)
    _check(splits, task, source, columns)
    return splits


def _load_hub(
    task: str,
    source: str,
    heads: dict[str, int],
    *,
    path: str,
    name: str | None = None,
    revision: str | None = None,
    data_files: dict[str, Any] | None = None,
    stream_splits: list[str] | None = None,
) -> datasets.DatasetDict:
    """`heads` maps a split to the rows read from its start; it is streamed wherever the
    YAML names the other splits (data_files or stream_splits), so it is never fetched whole."""
    options = {"revision": revision} if revision else {}
    try:
        if stream_splits:
            splits = {
                s: _stream(path, name, s, options, data_files)
                for s in stream_splits
                if s not in heads
            }
        else:
            rest = {s: f for s, f in (data_files or {}).items() if s not in heads}
            splits = dict(
                datasets.load_dataset(
                    path, name, **options, **({"data_files": rest} if rest else {})
                )
            )
        for split, rows in heads.items():
            if split in splits:
                splits[split] = _head(splits[split], rows)
            else:
                splits[split] = _stream(path, name, split, options, data_files, rows)
    except (FileNotFoundError, ValueError, OSError) as exc:
        # datasets says "no data files found", "unknown split", "file not found" in several
        # exception types (DataFilesNotFoundError is a FileNotFoundError): name what was asked.
        raise DataError(f"{task}: cannot read {source}: {_first_line(exc)}") from None
    return datasets.DatasetDict(splits)


def _stream(
    path: str,
    name: str | None,
    split: str,
    options: dict[str, Any],
    data_files: dict[str, Any] | None,
    rows: int | None = None,
) -> datasets.Dataset:
    """Materialize one split (or its first `rows`) by streaming: no other split is fetched."""
    files = {"data_files": {split: data_files[split]}} if data_files and split in data_files else {}
    stream = datasets.load_dataset(path, name, split=split, streaming=True, **options, **files)
    return datasets.Dataset.from_list(list(itertools.islice(stream, rows)))


def _load_local(folder: Path, task: str, heads: dict[str, int]) -> datasets.DatasetDict:
    """One split per `<split>.jsonl` file in the folder; heads cut as from the Hub."""
    files = sorted(folder.glob("*.jsonl"))
    if not files:
        raise DataError(f"{task}: {DATA_ENV}: no <split>.jsonl files in {folder}")
    splits = {f.stem: _read_jsonl(f) for f in files}
    for split, rows in heads.items():
        if split in splits:
            splits[split] = _head(splits[split], rows)
    return datasets.DatasetDict(splits)


def _head(rows: datasets.Dataset, n: int) -> datasets.Dataset:
    return rows.select(range(min(n, len(rows))))


def _read_jsonl(file: Path) -> datasets.Dataset:
    with file.open(encoding="utf-8") as fh:
        return datasets.Dataset.from_list([json.loads(line) for line in fh if line.strip()])


def _check(splits: datasets.DatasetDict, task: str, source: str, columns: list[str]) -> None:
    """Refuse an empty split or a missing column here, in one line, rather than as a
    KeyError deep inside a prompt template."""
    for split, rows in splits.items():
        if len(rows) == 0:
            raise DataError(f"{task}: split '{split}' of {source} has no rows")
        missing = [c for c in columns if c not in rows.column_names]
        if missing:
            raise DataError(
                f"{task}: split '{split}' of {source} lacks column(s) {', '.join(missing)}"
                f" (it has: {', '.join(rows.column_names)})"
            )


def _describe(spec: dict[str, Any]) -> str:
    """`repo (config) @ revision, files ...`: where the loader looked, for messages."""
    text = spec["path"] + (f" ({spec['name']})" if spec.get("name") else "")
    if spec.get("revision"):
        text += f" @ {spec['revision']}"
    if spec.get("data_files"):
        text += ", files " + "; ".join(
            f"{split}: {' or '.join(_as_list(patterns))}"
            for split, patterns in spec["data_files"].items()
        )
    return text


def _as_list(patterns: str | list[str]) -> list[str]:
    return [patterns] if isinstance(patterns, str) else list(patterns)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
