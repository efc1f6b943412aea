"""The probe card's schema (store/card_schema.py): published in docs/, equal to the models, met
by every committed card; a card off it is named at its first problem."""

import json
from pathlib import Path

import pytest

from promot_bench.store import card_schema

CHECKOUT = Path(__file__).resolve().parents[2]
COMMITTED = sorted((CHECKOUT / "results" / "probes").glob("*/*.json"))


def test_the_published_schema_is_the_models_own():
    published = (CHECKOUT / card_schema.SCHEMA_PATH).read_text()
    assert published == card_schema.schema_text(), (
        "docs/card.schema.json is out of date: run `python -m promot_bench.store.card_schema`"
    )


def test_every_committed_card_meets_the_schema():
    assert len(COMMITTED) >= 3
    wrong = {p.name: card_schema.problem(json.loads(p.read_text())) for p in COMMITTED}
    assert {name: why for name, why in wrong.items() if why} == {}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda c: c.pop("gate"), "gate: Field required"),
        (lambda c: c.update(extra=1), "extra: Extra inputs are not permitted"),
        (lambda c: next(iter(c["probes"].values())).update(passes="maybe"), ".passes"),
        (lambda c: c["summary"].update(failing="none"), "summary.failing"),
    ],
)
def test_a_card_off_the_schema_is_named_in_one_line(change, named):
    card = json.loads(COMMITTED[0].read_text())
    change(card)
    found = card_schema.problem(card)
    assert found is not None and named in found and "\n" not in found
