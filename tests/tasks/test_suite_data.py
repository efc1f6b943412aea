"""promot_suite's data loader (tasks/suite/data.py): the real `datasets.load_dataset` path on
local folders laid out like the Hub's Parquet exports, the arguments it sends to the Hub, the
few-shot head, metadata the stock CLI merges in, and one-line errors for bad data."""

import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from lm_eval.tasks import TaskManager
from lm_eval.tasks._yaml_loader import load_yaml

from promot_bench.tasks import MAX_SHOTS

SUITE = Path(__file__).resolve().parents[2] / "tasks" / "suite"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "suite_data"
DATA_ENV = "PROMOT_BENCH_SUITE_DATA"
# What the stock CLI puts into every task's metadata for `--model_args pretrained=...,revision=...`.
MODEL_METADATA = {"pretrained": "org/model", "revision": "model-revision-1234", "version": 1.0}


def _task_yamls():
    return {p: load_yaml(p, resolve_func=False) for p in sorted(SUITE.rglob("*.yaml"))}


TASK_YAMLS = {p: c for p, c in _task_yamls().items() if "group" not in c}


def _data_spec(task):
    (config,) = [c for c in TASK_YAMLS.values() if c["task"] == task]
    return dict(config["dataset_kwargs"]["promot_data"])


def _load_docs():
    return load_yaml(SUITE / "nli" / "cb.yaml", resolve_func=True)["custom_dataset"]


def _rows(task, split):
    lines = (FIXTURES / task / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _write_parquet(path: Path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


def test_every_task_declares_its_data_under_one_key_and_agrees_with_its_yaml():
    for path, config in TASK_YAMLS.items():
        assert list(config["dataset_kwargs"]) == ["promot_data"], path
        spec = config["dataset_kwargs"]["promot_data"]
        assert spec["task"] == config["task"], path
        assert spec["columns"], path
        # The split the loader cuts to its head is the split lm-eval draws demonstrations from.
        assert spec.get("fewshot_split") == config.get("fewshot_split"), path


# Two layouts the Hub's automatic Parquet export has used for the same config.
LAYOUTS = {
    "promot_xsum": {
        "folders": {"train": "default/train/0000.parquet", "test": "default/test/0000.parquet"},
        "flat": {"train": "default/xsum-train.parquet", "test": "default/xsum-test.parquet"},
    },
    "promot_wikilingua": {
        "folders": {
            "train": "en/train/0000.parquet",
            "test": "en/test/0000.parquet",
            "sampled_test": "en/sampled_test/0000.parquet",
        },
        "flat": {
            "train": "en/wiki_lingua-train.parquet",
            "test": "en/wiki_lingua-test.parquet",
            "sampled_test": "en/wiki_lingua-sampled_test.parquet",
        },
    },
}


@pytest.mark.parametrize("layout", ["folders", "flat"])
@pytest.mark.parametrize("task", sorted(LAYOUTS))
def test_summarization_reads_both_export_layouts_through_datasets(
    tmp_path, monkeypatch, task, layout
):
    monkeypatch.delenv(DATA_ENV, raising=False)
    rows = {"train": _rows(task, "train"), "test": _rows(task, "test")}
    rows["sampled_test"] = rows["test"][:1]  # WikiLingua's extra file: must not join test
    for split, relative in LAYOUTS[task][layout].items():
        _write_parquet(tmp_path / relative, rows[split])
    # The YAML's own arguments (revision, data_files), with the repo replaced by the local copy:
    # the real datasets.load_dataset call, streaming for the few-shot head included.
    spec = _data_spec(task) | {"path": str(tmp_path)}
    loaded = _load_docs()(**MODEL_METADATA, promot_data=spec)
    assert sorted(loaded) == ["test", "train"]
    assert loaded["test"].to_list() == rows["test"]
    assert loaded["train"].to_list() == rows["train"]


def test_a_pattern_that_matches_nothing_is_one_line_naming_task_and_patterns(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_ENV, raising=False)
    _write_parquet(tmp_path / "default" / "xsum-train.parquet", _rows("promot_xsum", "train"))
    spec = _data_spec("promot_xsum") | {"path": str(tmp_path)}
    with pytest.raises(Exception) as caught:
        _load_docs()(promot_data=spec)
    message = str(caught.value)
    assert type(caught.value).__name__ == "DataError" and "\n" not in message
    assert message.startswith("promot_xsum: cannot read ")
    assert "test: default/test/*.parquet or default/xsum-test*.parquet" in message


def test_a_split_with_no_rows_and_a_missing_column_are_refused_in_one_line(tmp_path, monkeypatch):
    load_docs = _load_docs()
    (tmp_path / "promot_cb").mkdir()
    (tmp_path / "promot_cb" / "train.jsonl").write_text("\n", encoding="utf-8")
    (tmp_path / "promot_cb" / "validation.jsonl").write_text(
        json.dumps({"premise": "p", "label": 0}) + "\n", encoding="utf-8"
    )
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    with pytest.raises(Exception, match=r"^promot_cb: split 'train' of .*promot_cb has no rows$"):
        load_docs(promot_data=_data_spec("promot_cb"))
    (tmp_path / "promot_cb" / "train.jsonl").write_text(
        json.dumps({"premise": "p", "hypothesis": "h", "label": 0}) + "\n", encoding="utf-8"
    )
    with pytest.raises(
        Exception, match=r"^promot_cb: split 'validation' of .* lacks column\(s\) hypothesis "
    ):
        load_docs(promot_data=_data_spec("promot_cb"))


class FakeHub:
    """datasets.load_dataset over the JSONL fixtures: records every call's arguments."""

    def __init__(self):
        self.calls = []
        self.by_repo = {}
        for config in TASK_YAMLS.values():
            spec = config["dataset_kwargs"]["promot_data"]
            self.by_repo[(spec["path"], spec.get("name"))] = spec["task"]

    def __call__(self, path, name=None, split=None, streaming=False, **kwargs):
        self.calls.append(
            {"path": path, "name": name, "split": split, "streaming": streaming, **kwargs}
        )
        task = self.by_repo[(path, name)]
        if split is not None:
            rows = _rows(task, split)
            return iter(rows) if streaming else datasets.Dataset.from_list(rows)
        files = sorted((FIXTURES / task).glob("*.jsonl"))
        wanted = kwargs.get("data_files")
        return datasets.DatasetDict(
            {
                f.stem: datasets.Dataset.from_list(_rows(task, f.stem))
                for f in files
                if not wanted or f.stem in wanted
            }
        )


@pytest.mark.parametrize("config_path", sorted(TASK_YAMLS), ids=lambda p: p.stem)
def test_the_model_revision_in_metadata_never_reaches_the_dataset(monkeypatch, config_path):
    config = TASK_YAMLS[config_path]
    spec = config["dataset_kwargs"]["promot_data"]
    hub = FakeHub()
    monkeypatch.delenv(DATA_ENV, raising=False)
    monkeypatch.setattr(datasets, "load_dataset", hub)
    # Exactly lm-eval's call: custom_dataset(**metadata, **dataset_kwargs).
    loaded = _load_docs()(**MODEL_METADATA, **config["dataset_kwargs"])
    assert hub.calls
    for call in hub.calls:
        assert (call["path"], call["name"]) == (spec["path"], spec.get("name"))
        assert call.get("revision") == spec.get("revision")  # the YAML's, or none
        assert "pretrained" not in call
    # Only the listed splits are streamed; a split read by its head (the few-shot split,
    # head_rows) is streamed, never loaded whole, wherever data_files or stream_splits name
    # the other splits.
    streamed = {c["split"] for c in hub.calls if c["streaming"]}
    heads = set(spec.get("head_rows", {})) | (
        {spec["fewshot_split"]} if "fewshot_split" in spec else set()
    )
    expected = set(spec.get("stream_splits", [])) - heads
    if spec.get("stream_splits") or spec.get("data_files"):
        expected |= heads
    assert streamed == expected
    assert all(len(rows) > 0 for rows in loaded.values())


def test_the_fewshot_split_keeps_only_the_rows_first_n_can_use(tmp_path, monkeypatch):
    rows = [{"question": f"q{i}?", "answers": [f"a{i}"]} for i in range(MAX_SHOTS + 40)]
    folder = tmp_path / "promot_webqs"
    folder.mkdir()
    for split in ("train", "test"):
        (folder / f"{split}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8"
        )
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    loaded = _load_docs()(promot_data=_data_spec("promot_webqs"))
    assert loaded["train"].to_list() == rows[: MAX_SHOTS + 1]  # the demonstrations' head
    assert loaded["test"].to_list() == rows  # evaluated rows: all of them

    task = TaskManager(include_path=str(SUITE), include_defaults=False).load(["promot_webqs"])[
        "tasks"
    ]["promot_webqs"]
    prompt = task.fewshot_context(task.eval_docs[0], num_fewshot=MAX_SHOTS)
    demonstrations = prompt.split("\n\n")[:-1]
    assert demonstrations == [f"Q: q{i}? A: a{i}" for i in range(MAX_SHOTS)]


def test_the_hub_fewshot_head_is_streamed_and_cut(monkeypatch):
    train = [{"document": f"article {i}", "summary": f"s{i}", "id": str(i)} for i in range(100)]

    def fake_load_dataset(path, name=None, split=None, streaming=False, **kwargs):
        if streaming:
            assert split == "train" and kwargs["data_files"] == {
                "train": spec["data_files"]["train"]
            }
            return iter(train)
        assert "train" not in kwargs["data_files"]  # never downloaded in full
        return datasets.DatasetDict({"test": datasets.Dataset.from_list(train[:2])})

    spec = _data_spec("promot_xsum")
    monkeypatch.delenv(DATA_ENV, raising=False)
    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    loaded = _load_docs()(promot_data=spec)
    assert loaded["train"].to_list() == list(itertools.islice(train, MAX_SHOTS + 1))


def test_every_task_builds_with_the_stock_cli_metadata(monkeypatch):
    # TaskManager(metadata=model_args | metadata) is how the stock CLI builds the tasks.
    monkeypatch.setenv(DATA_ENV, str(FIXTURES))
    manager = TaskManager(
        include_path=str(SUITE), include_defaults=False, metadata=dict(MODEL_METADATA)
    )
    loaded = manager.load(["promot_suite", "promot_targets"])["tasks"]
    assert len(loaded) == 12
    assert all(len(task.eval_docs) > 0 for task in loaded.values())


@pytest.mark.slow
def test_stock_lm_eval_cli_with_a_model_revision_runs_every_task(tiny_llama_dir, tmp_path):
    env = dict(
        os.environ, **{DATA_ENV: str(FIXTURES), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    )
    command = [
        sys.executable, "-m", "lm_eval", "--model", "hf",
        "--model_args", f"pretrained={tiny_llama_dir},revision=main",
        "--tasks", "promot_suite,promot_targets", "--include_path", str(SUITE),
        "--limit", "1", "--gen_kwargs", "max_gen_toks=4", "--device", "cpu", "--batch_size", "4",
        "--output_path", str(tmp_path / "out"),
    ]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (result_file,) = (tmp_path / "out").rglob("results_*.json")
    results = json.loads(result_file.read_text())["results"]
    assert {name for name in results if name.startswith("promot_")} >= {
        c["task"] for c in TASK_YAMLS.values()
    }


def test_tasks_check_says_per_task_whether_it_loaded(tmp_path, monkeypatch, capsys):
    from promot_bench.cli import main

    monkeypatch.setenv(DATA_ENV, str(FIXTURES))
    assert main(["tasks", "--check"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "every task loaded"
    assert len(lines) == 13  # the 12 tasks of promot_suite and promot_targets, then the verdict
    assert lines[0].split() == [
        "promot_cb",
        "ok",
        "evaluated",
        "(validation)",
        "3",
        "rows,",
        "few-shot",
        "(train)",
        "4",
        "rows",
    ]

    shutil.copytree(FIXTURES / "promot_cb", tmp_path / "promot_cb")
    (tmp_path / "promot_cb" / "train.jsonl").write_text("\n", encoding="utf-8")
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    assert main(["tasks", "--check", "promot_cb,promot_rte"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["promot_cb", "FAILED"] and lines[0].endswith("has no rows")
    assert lines[1].split()[:2] == ["promot_rte", "FAILED"] and "no <split>.jsonl files" in lines[1]
    assert lines[2] == "2 of the tasks failed to load"


def test_an_unreadable_data_file_is_one_line_naming_the_task(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_ENV, raising=False)
    _write_parquet(tmp_path / "default" / "xsum-train.parquet", _rows("promot_xsum", "train"))
    (tmp_path / "default" / "xsum-test.parquet").write_bytes(b"not a parquet file")
    spec = _data_spec("promot_xsum") | {"path": str(tmp_path)}
    with pytest.raises(Exception) as caught:
        _load_docs()(promot_data=spec)
    assert type(caught.value).__name__ == "DataError" and "\n" not in str(caught.value)
    assert str(caught.value).startswith(
        f"promot_xsum: cannot read {tmp_path} @ refs/convert/parquet, files "
    )


TARGET_FIRST_EXAMPLES = {
    "promot_rte": (
        "The library in Graz extended its opening hours to ten in the evening. question: The "
        "library"
        " in Graz closes at ten in the evening. Is it true or false? answer:",
        " True",
    ),
    "promot_snli": (
        "A woman is reading a book on a park bench. question: A woman is outdoors."
        " Is it true or false or neither? answer:",
        " True",
    ),
    "promot_openbookqa": (
        "Q: Water freezes at A) zero degrees Celsius B) fifty degrees Celsius C) the boiling point"
        " D) room temperature A:",
        " A",
    ),
    "promot_wmt14_en_fr": (
        "Translate English to French: The bakery opens at seven.\nFrench:",
        " La boulangerie ouvre à sept heures.",
    ),
}


@pytest.mark.parametrize("name", sorted(TARGET_FIRST_EXAMPLES))
def test_the_study_targets_can_be_fine_tuned_and_kept_best(monkeypatch, name):
    from promot_bench.train import task_data

    monkeypatch.setenv(DATA_ENV, str(FIXTURES))
    task = TaskManager(include_path=str(SUITE), include_defaults=False).load([name])["tasks"][name]
    examples = task_data.training_examples(task)
    assert (examples[0].prompt, examples[0].completion) == TARGET_FIRST_EXAMPLES[name]
    train_rows = _rows(name, "train")
    unlabelled = sum(1 for row in train_rows if row.get("label") == -1)  # SNLI drops these
    assert len(examples) == len(train_rows) - unlabelled
    assert task_data.validation_task(task) is not None  # checkpoints are kept on validation


def test_wmt14_reads_only_the_head_of_its_40m_pair_train_split(monkeypatch):
    pairs = [{"translation": {"en": f"e{i}", "fr": f"f{i}"}} for i in range(70_000)]
    calls = []

    def fake_load_dataset(path, name=None, split=None, streaming=False, **kwargs):
        calls.append((split, streaming))
        return iter(pairs)

    monkeypatch.delenv(DATA_ENV, raising=False)
    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    loaded = _load_docs()(promot_data=_data_spec("promot_wmt14_en_fr"))
    assert calls == [("validation", True), ("test", True), ("train", True)]
    assert loaded["train"].to_list() == pairs[:64_000]


@pytest.mark.slow
def test_a_run_fine_tunes_on_a_study_target(tiny_llama_dir, tmp_path, monkeypatch, private_cache):
    from promot_bench.cli import main

    monkeypatch.setenv(DATA_ENV, str(FIXTURES))
    argv = [
        "run",
        "--model",
        str(tiny_llama_dir),
        "--suite",
        "study",
        "--train",
        "rte",
        "--tuner",
        "ft",
        "--budget",
        "2",
        "--limit",
        "2",
        "--out",
        str(tmp_path),
    ]
    assert main(argv) == 0
    (result_file,) = (tmp_path / "runs").rglob("seed0.json")
    result = json.loads(result_file.read_text())
    assert result["target_tasks"] == ["promot_rte"] and result["after_is_baseline"] is False
    assert result["target"]["tuned"]["n"] == len(_rows("promot_rte", "validation"))
    assert sorted(result["before"]) == sorted(
        c["task"]
        for c in TASK_YAMLS.values()
        if c["task"] in load_yaml(SUITE / "promot_suite.yaml", resolve_func=False)["task"]
    )
