"""The result file's schema (store/result.py): published in docs/, equal to the models, met by
every committed result, and enforced where a finished result is read back."""

import json
from pathlib import Path

import pytest

from promot_bench.errors import RunError
from promot_bench.run.record import read_result
from promot_bench.store import result as result_schema

CHECKOUT = Path(__file__).resolve().parents[2]
COMMITTED = sorted(
    p
    for p in (CHECKOUT / "results" / "runs").glob("**/seed*.json")
    if not any(part.endswith(".work") for part in p.parts)
)


def test_the_published_schema_is_the_models_own():
    published = (CHECKOUT / result_schema.SCHEMA_PATH).read_text()
    assert published == result_schema.schema_text(), (
        "docs/result.schema.json is out of date: run `python -m promot_bench.store.result`"
    )


def test_every_committed_result_meets_the_schema():
    assert len(COMMITTED) >= 60
    wrong = {
        str(p.relative_to(CHECKOUT)): result_schema.problem(json.loads(p.read_text()))
        for p in COMMITTED
    }
    assert {path: why for path, why in wrong.items() if why} == {}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda r: r.pop("weights_sha256"), "weights_sha256: Field required"),
        (lambda r: r.update(unheard_of=1), "unheard_of: Extra inputs are not permitted"),
        (lambda r: r["before"][next(iter(r["before"]))].update(score="high"), "score"),
        (lambda r: r["budget"].update(batch=-0.5), "budget.batch"),
        (lambda r: r.update(schema_version=3), "records its options"),
    ],
)
def test_a_result_off_the_schema_is_refused_in_one_line_naming_the_field(change, named, tmp_path):
    result = json.loads(COMMITTED[0].read_text())
    assert read_result(COMMITTED[0]) == result  # a committed one reads back as it is
    change(result)
    path = tmp_path / "seed0.json"
    path.write_text(json.dumps(result))
    with pytest.raises(RunError, match="seed0.json is damaged") as refused:
        read_result(path)
    assert named in str(refused.value) and "\n" not in str(refused.value)
