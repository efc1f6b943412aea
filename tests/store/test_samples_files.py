"""Samples files compressed: deterministic bytes, readers that take the plain and the
compressed file alike, and a results tree that re-derives identically once compressed."""

import gzip
import json
import shutil
from pathlib import Path

import pytest

from promot_bench.evaluate import samples
from promot_bench.report import leaderboard

ITEMS = [
    {"phase": "before", "task": "t", "doc_id": 0, "score": 100.0, "output": " Paris"},
    {"phase": "after", "task": "t", "doc_id": 0, "score": 0.0, "output": " Lyon"},
]


def test_compression_is_deterministic_and_readers_take_either_file(tmp_path):
    text = "\n".join(json.dumps(i) for i in ITEMS) + "\n"
    assert samples.compressed(text) == samples.compressed(text)  # no time or name in the header
    assert gzip.decompress(samples.compressed(text)).decode() == text
    plain = tmp_path / "seed0.samples.jsonl"
    plain.write_text(text)
    assert samples.items(plain) == ITEMS
    from_plain = samples.by_phase(plain)
    (tmp_path / "seed0.samples.jsonl.gz").write_bytes(samples.compressed(text))
    plain.unlink()
    assert samples.locate(plain) == tmp_path / "seed0.samples.jsonl.gz"
    assert samples.items(plain) == ITEMS and samples.by_phase(plain) == from_plain
    assert samples.locate(tmp_path / "other.samples.jsonl") is None


COMMITTED = Path(__file__).parents[2] / "results/runs/smollm2-135m/mini/nli"
CELLS = [*(f"{t}/cpu-study/seed{s}" for t in ("ft", "promot") for s in (0, 1, 2))]
CELLS += ["promot-1shot/cpu-study/seed0"]  # one seed: its vs-ft interval reads the samples


@pytest.mark.slow
def test_a_results_tree_re_derives_identically_from_compressed_samples(tmp_path):
    """Committed cells (three seeds of ft and ProMoT, one of an ablation), compressed: the
    tables, the CSV and the verdict are byte-identical (item-level intervals, flips and the
    one-seed vs-ft interval read the samples)."""
    plain, packed = tmp_path / "plain", tmp_path / "packed"
    for cell in CELLS:
        source = COMMITTED / f"{cell}.json"
        target = plain / "runs/smollm2-135m/mini/nli" / f"{cell}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
        found = samples.locate(source.with_name(json.loads(source.read_text())["samples"]))
        # unpacked, as results were written before packing
        text = samples.dump(samples.items(found))
        target.with_name(json.loads(source.read_text())["samples"]).write_text(text)
    shutil.copytree(plain, packed)
    done = samples.compress_tree(packed)
    assert done and all(after < before for _, before, after in done)
    assert not list(packed.glob("runs/**/*.samples.jsonl"))
    # the pretrained model's items are kept once per content, whichever seed and tuner ran (a
    # "before" computed on another CPU differs in its gold log-probs' last digits: its own file)
    shared = list(packed.glob("runs/smollm2-135m/mini/baselines/*.samples.jsonl.gz"))
    assert 1 <= len(shared) < len(CELLS)
    for cell in CELLS:
        run = packed / "runs/smollm2-135m/mini/nli" / f"{cell}.json"
        named = json.loads(run.read_text())["samples"]
        original = samples.items(plain / run.relative_to(packed).with_name(named))
        assert samples.items(run.with_name(named)) == original  # every phase, every prompt
    assert samples.compress_tree(packed) == []  # packed already: nothing to do
    leaderboard.build(plain)
    leaderboard.build(packed)
    for name in ("LEADERBOARD.md", "LEADERBOARD.csv"):  # the same but for the folder it names
        text = (plain / name).read_text().replace(plain.as_posix(), packed.as_posix())
        assert (packed / name).read_text() == text


def test_a_packed_file_keeps_the_shared_phases_once_and_gives_back_every_item(tmp_path):
    lines = [
        {"phase": "before", "task": "t", "doc_id": 0, "prompt": "Q: a? A:", "output": " x"},
        {"phase": "before", "task": "t", "doc_id": 1, "prompt": "Q: b? A:", "output": " z"},
        {"phase": "after", "task": "t", "doc_id": 0, "prompt": "Q: a? A:", "output": " y"},
        {"phase": "after", "task": "t", "doc_id": 1, "prompt": "Q: b? A:", "output": " z"},
        {"phase": "target_pretrained", "task": "n", "doc_id": 0, "prompt": "P", "gold": "T"},
        {"phase": "target_pretrained", "task": "n", "doc_id": 1, "prompt": "R", "gold": "F"},
        {"phase": "target_tuned", "task": "n", "doc_id": 0, "prompt": "P", "gold": "T"},
        {"phase": "target_tuned", "task": "n", "doc_id": 1, "prompt": "R", "gold": "F"},
        # a soft prompt's run: the prompt text differs, so the whole block keeps its column
        {"phase": "target_tuned", "task": "m", "doc_id": 0, "prompt": "S P", "gold": "T"},
    ]
    folder = tmp_path / "runs/m/mini/nli/ft"
    folder.mkdir(parents=True)
    shared = samples.shared_folder(folder / "seed0.samples.jsonl.gz")
    assert shared == tmp_path / "runs/m/mini/baselines"
    for seed in (0, 1):
        text = samples.pack(lines, folder, shared)
        (folder / f"seed{seed}.samples.jsonl.gz").write_bytes(samples.compressed(text))
    assert len(list(shared.iterdir())) == 2  # "before" and the target's pretrained: once each
    header, before, after, target, tuned_n, tuned_m = map(json.loads, text.splitlines())
    assert header == {"packed": 2} and before["from"].startswith("../../baselines/")
    assert target["phase"] == "target_pretrained" and "from" in target
    # the after items' prompts are their before items': left out; their outputs kept
    assert after["keys"] == ["doc_id", "prompt", "output"] and set(after["columns"]) == {
        "doc_id",
        "output",
    }
    assert set(tuned_n["columns"]) == {"doc_id"}  # prompt and gold: the pretrained target's
    assert tuned_m["columns"] == {"doc_id": [0], "prompt": ["S P"], "gold": ["T"]}
    assert samples.items(folder / "seed1.samples.jsonl") == lines


def test_the_first_packed_format_is_still_read_and_repacked_to_the_same_items(tmp_path):
    before = [{"phase": "before", "task": "t", "doc_id": 0, "prompt": "Q:", "output": " x"}]
    shared = tmp_path / "runs/m/mini/baselines"
    shared.mkdir(parents=True)
    (shared / "b.samples.jsonl.gz").write_bytes(samples.compressed(samples.dump(before)))
    folder = tmp_path / "runs/m/mini/nli/ft"
    folder.mkdir(parents=True)
    first = [
        {"before_from": "../../baselines/b.samples.jsonl.gz"},
        {"phase": "after", "task": "t", "doc_id": 0, "output": " y"},
    ]
    path = folder / "seed0.samples.jsonl.gz"
    path.write_bytes(samples.compressed(samples.dump(first)))
    whole = before + [{"phase": "after", "task": "t", "doc_id": 0, "output": " y", "prompt": "Q:"}]
    assert samples.items(path) == whole
    assert [p for p, _, _ in samples.compress_tree(tmp_path)] == [path]
    assert samples.items(path) == whole and samples.compress_tree(tmp_path) == []


def test_packing_removes_a_killed_writers_temporary_of_the_shared_file(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMOT_BENCH_CACHE", str(tmp_path / "cache"))  # the lock lives there
    lines = [{"phase": "before", "task": "t", "doc_id": 0, "prompt": "Q:", "output": " x"}]
    shared = tmp_path / "baselines"
    shared.mkdir()
    digest = samples.hashlib.sha256(samples.dump(lines).encode()).hexdigest()[:16]
    stale = shared / f".{digest}.samples.jsonl.gz.0badf00d.tmp"
    other = shared / ".another.samples.jsonl.gz.0badf00d.tmp"  # another file's: not ours to touch
    stale.write_bytes(b"half a gzip")
    other.write_bytes(b"half a gzip")
    samples.pack(lines, tmp_path, shared)
    assert sorted(p.name for p in shared.iterdir()) == sorted(
        [f"{digest}.samples.jsonl.gz", other.name]
    )


def test_packing_a_results_folder_changes_its_bytes_not_its_content(tmp_path):
    """`python -m promot_bench.run.pack`: an indented result file written compactly, a plain
    samples file packed; each reads back equal, and a packed folder packs to itself."""
    from promot_bench.run import pack, record

    cell = tmp_path / "runs/m/mini/nli/ft/p"
    cell.mkdir(parents=True)
    result = {"seed": 0, "mean": {"delta": -1.5}, "samples": "seed0.samples.jsonl", "ü": "é"}
    (cell / "seed0.json").write_text(json.dumps(result, indent=1))
    (cell / "seed0.samples.jsonl").write_text(samples.dump(ITEMS))
    work = tmp_path / "runs/m/mini/nli/ft/p/seed1.work"
    work.mkdir()
    (work / "seed1.json").write_text(json.dumps(result, indent=1))  # unfinished: left alone
    done = pack.pack(tmp_path)
    assert {p.name for p, _, _ in done} == {"seed0.json", "seed0.samples.jsonl.gz"}
    sizes = {p.name: (before, after) for p, before, after in done}
    assert sizes["seed0.json"][1] < sizes["seed0.json"][0]  # (two items: gzip's header costs more)
    assert (cell / "seed0.json").read_text() == record.result_text(result)
    assert json.loads((cell / "seed0.json").read_text()) == result
    assert samples.items(cell / "seed0.samples.jsonl") == ITEMS
    assert (work / "seed1.json").read_text() == json.dumps(result, indent=1)
    assert pack.pack(tmp_path) == []
