"""promot_mini v2's reading target (tasks/mini/reading): deterministic data of the stated sizes,
hypotheses the premise decides, labels balanced per kind, and no entity of any v2 probe item in
any target item."""

import re

import pytest
from helpers.shipped import shipped

from promot_bench.tasks.mini.builders import settings
from promot_bench.tasks.mini.builders.common import Reserved
from promot_bench.tasks.mini.reading import build as reading

SPLITS = settings.SPLITS


@pytest.fixture(scope="module")
def nli():
    """As shipped (the slow test below and tests/tasks/test_shipped_data.py check the build)."""
    return shipped(reading)["nli"]


@pytest.mark.slow
def test_build_is_deterministic_and_hashed(tmp_path):
    first, second = reading.build(tmp_path / "a"), reading.build(tmp_path / "b")
    assert first == second and re.fullmatch(r"[0-9a-f]{64}", first["data_hash"])
    assert first["tasks"] == {"nli": {"train": 400, "validation": 60, "test": 400}}
    assert reading.build(tmp_path / "c", seed=7)["data_hash"] != first["data_hash"]


def test_labels_are_balanced_within_each_kind(nli):
    for split in SPLITS:
        counts = {}
        for r in nli[split]:
            counts.setdefault(r["kind"], []).append(r["label"])
        assert set(counts) == set(reading.KINDS)
        for labels in counts.values():
            assert abs(labels.count("True") - labels.count("False")) <= 1, split


def test_the_premise_decides_every_hypothesis(nli):
    """Re-derive every label from the text alone."""
    for r in (r for s in SPLITS for r in nli[s]):
        premise, hypothesis = r["premise"], r["hypothesis"]
        if r["kind"] == "born":
            x, word, y = re.fullmatch(r"(\w+) was born (before|after) (\w+)\.", hypothesis).groups()
            year = {
                name: int(re.search(rf"{name}(?:, born| was born)? in (\d{{4}})", premise).group(1))
                for name in (x, y)
            }
            holds = year[x] < year[y] if word == "before" else year[x] > year[y]
        else:
            person, place = re.fullmatch(
                r"(\w+) (?:lives in|has a home in) (\w+)\.", hypothesis
            ).groups()
            home = re.search(rf"{person} (?:lives in|has a home in) (\w+)", premise).group(1)
            holds = home == place
            assert (place in premise) == (r["kind"] == "bound" or holds), (
                r
            )  # `present` False: a place named nowhere
        assert r["label"] == ("True" if holds else "False"), r


def test_splits_share_no_name_and_names_are_no_words(nli):
    from wordfreq import zipf_frequency

    owner = {}
    for split in SPLITS:
        for r in nli[split]:
            for key in r["entities"]:
                assert owner.setdefault(key, split) == split, key
    names = {k.split(":", 1)[1] for k in owner}
    assert len(names) == len(owner) > 1500
    assert all(zipf_frequency(n, "en") == 0 for n in names)


@pytest.mark.slow  # the probe strings take 14 s: out of the fast lane (tox -e fast)
def test_no_v2_probe_entity_appears_in_the_target(nli, v2_probe_strings):
    reserved = Reserved(v2_probe_strings)
    items = [r for s in SPLITS for r in nli[s]]
    assert [(r["id"], reserved.hit(r)) for r in items if reserved.hit(r)] == []
    assert len(items) == 860 and len(reserved.strings) > 2000  # there was something to check
