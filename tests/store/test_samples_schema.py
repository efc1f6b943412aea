"""The samples file's schema (store/samples_schema.py): published in docs/, equal to the models,
met by every committed samples file — its lines as written and its items as read back."""

import json
from pathlib import Path

import pytest

from promot_bench.evaluate import samples
from promot_bench.store import samples_schema

CHECKOUT = Path(__file__).resolve().parents[2]
COMMITTED = sorted(
    p
    for p in (CHECKOUT / "results" / "runs").glob("**/*.samples.jsonl*")
    if not any(part.endswith(".work") for part in p.parts)
)
GOOD = [
    {"phase": "before", "task": "t", "doc_id": 0, "prompt": "Q:", "output": " x", "gold": "x"},
    {"phase": "after", "task": "t", "doc_id": 0, "prompt": "Q:", "output": " y", "gold": "x"},
]


def lines_of(path: Path) -> list[dict]:
    with samples.opened(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def test_the_published_schema_is_the_models_own():
    published = (CHECKOUT / samples_schema.SCHEMA_PATH).read_text()
    assert published == samples_schema.schema_text(), (
        "docs/samples.schema.json is out of date: run `python -m promot_bench.store.samples_schema`"
    )


@pytest.mark.slow
def test_every_committed_samples_file_meets_the_schema():
    assert len(COMMITTED) >= 100
    wrong = {
        str(p.relative_to(CHECKOUT)): samples_schema.problem(lines_of(p), samples.items(p))
        for p in COMMITTED
    }
    assert {path: why for path, why in wrong.items() if why} == {}
    # what runs write and the committed tree holds: format 2, whose items read back whole
    assert all(lines_of(p)[0] == {"packed": 2} for p in COMMITTED if "baselines" not in p.parts)


def packed(tmp_path: Path) -> list[dict]:
    return [json.loads(line) for line in samples.pack(GOOD, tmp_path, tmp_path).splitlines()]


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (lambda lines, items: items[1].update(score="high"), "item 2: score"),
        (lambda lines, items: items[0].update(phase="during"), "item 1: phase"),
        (lambda lines, items: items[0].pop("output"), "item 1: output: Field required"),
        (lambda lines, items: lines[0].update(packed=3), "line 1: Header.packed"),
        (lambda lines, items: lines[2]["columns"].update(doc_id="0"), "line 3: "),
        (lambda lines, items: lines[2].update(order=[]), "line 3: "),
    ],
)
def test_a_damaged_file_is_named_at_its_first_problem(damage, named, tmp_path):
    lines, items = packed(tmp_path), [dict(i, score=1.0) for i in GOOD]
    assert samples_schema.problem(lines, items) is None
    damage(lines, items)
    found = samples_schema.problem(lines, items)
    assert found is not None and found.startswith(named) and "\n" not in found
