"""The in-context mapping probes (tasks/mini/mapping): deterministic data of the stated sizes,
disjoint from the promot_mini targets, rendered as `{input} -> {answer}` demonstrations.

One build of each (mapping and mini, about 30 s together) is shared by the module; the
determinism test makes a second mapping build.
"""

import re
from pathlib import Path

import pytest
from helpers.shipped import read, shipped

from promot_bench.evaluate import evaluation
from promot_bench.store import cache
from promot_bench.tasks.mini import build as mini
from promot_bench.tasks.mini.builders import settings
from promot_bench.tasks.mini.builders.common import Reserved
from promot_bench.tasks.mini.mapping import build as mapping
from promot_bench.tasks.mini.reading import build as reading

SPLITS = ("train", "validation", "test")
MAPPING_DIR = Path(mapping.__file__).parent
# task -> (test, validation, train) items of the seed-1234 build
SIZES = {
    "num-words": (222, 16, 32),
    "num-ordinal": (222, 16, 32),
    "plural": (500, 16, 32),
    "past-tense": (500, 16, 32),
    "city-continent": (200, 16, 32),
    "element-symbol": (54, 8, 32),
    "symbol-element": (54, 8, 32),
    "gerund": (500, 16, 32),
    "third-person": (500, 16, 32),
    "singular": (500, 16, 32),
    "first-letter": (377, 16, 32),
    "next-number": (500, 16, 32),
}

# The first test item of every probe (kept: num_words, plural, past_tense, city_continent, gerund,
# third_person, singular, first_letter, next_number; and round 1's dropped ones) with its
# demonstration (the first train item), as the seed-1234 build renders them
# 1-shot. Kept and dropped probes: tasks/mini/mapping/README.md.
GOLDEN = {
    "promot_mini_map_num_words": "Q: How is 612 written in words? A: six hundred and twelve\n\n"
    "Q: How is 740 written in words? A:",
    "promot_mini_map_num_ordinal": "Q: What is the ordinal of 805, in words? A: eight hundred and "
    "fifth\n\n"
    "Q: What is the ordinal of 372, in words? A:",
    "promot_mini_map_plural": "Q: What is the plural of disaster? A: disasters\n\nQ: What is the "
    "plural of priest? A:",
    "promot_mini_map_past_tense": "Q: What is the past tense of reveal? A: revealed\n\n"
    "Q: What is the past tense of deal? A:",
    "promot_mini_map_city_continent": "Q: On which continent is Belford Roxo? A: South America\n\n"
    "Q: On which continent is Chennai? A:",
    # v1's bare format, kept by the dropped element probes (not redesigned: 54 test items)
    "promot_mini_map_element_symbol": "Actinium -> Ac\n\nEuropium ->",
    "promot_mini_map_symbol_element": "Y -> yttrium\n\nYb ->",
    # round 2 (README.md): the kept ones; the dropped ones were built at commit bdcf33d
    "promot_mini_map_gerund": "Q: What is the -ing form of guide? A: guiding\n\nQ: What is the "
    "-ing form of frame? A:",
    "promot_mini_map_third_person": "Q: What is the he/she form of post? A: posts\n\nQ: What is "
    "the he/she form of pipe? A:",
    "promot_mini_map_singular": "Q: What is the singular of assistants? A: assistant\n\n"
    "Q: What is the singular of knees? A:",
    "promot_mini_map_first_letter": "Q: What is the first letter of right? A: r\n\nQ: What is the "
    "first letter of men? A:",
    "promot_mini_map_next_number": "Q: What number comes after four hundred and thirty-seven? A: "
    "four hundred and "
    "thirty-eight\n\nQ: What number comes after eight hundred and nine? A:",
}


@pytest.fixture(scope="module")
def built():
    """The shipped build (tests/tasks/test_shipped_data.py checks that these builders made it);
    only the determinism tests (slow) build afresh."""
    out = mini.shipped_folder(mapping.SUITE, mapping.SCHEMA_VERSION, 1234)
    return out, cache.read_manifest(out), read(out, mapping.TASKS)


@pytest.fixture(scope="module")
def targets():
    """The mini targets' data as shipped, and v2's reading target."""
    out = mini.shipped_folder(mini.SUITE, mini.SCHEMA_VERSION, 1234)
    return {**read(out, settings.TARGET_TASKS), "reading-nli": shipped(reading)["nli"]}


def files(folder: Path) -> dict:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != cache.MANIFEST
    }


@pytest.mark.slow
def test_build_is_deterministic_and_hashed(built, tmp_path):
    out, manifest, _ = built
    again = mapping.build(tmp_path / "again")
    assert again["data_hash"] == manifest["data_hash"] and re.fullmatch(
        r"[0-9a-f]{64}", manifest["data_hash"]
    )
    assert files(out) == files(tmp_path / "again")
    assert again == {k: manifest[k] for k in again}  # the shipped one adds the builders' hash
    assert set(manifest["sources"]) >= set(mapping.SOURCE_PINS)


def test_item_counts(built):
    out, manifest, data = built
    assert (
        sorted(p.name for p in out.iterdir() if p.is_dir())
        == sorted(mapping.TASKS)
        == sorted(SIZES)
    )
    for task, (test, validation, train) in SIZES.items():
        assert manifest["tasks"][task] == {
            "test": test,
            "validation": validation,
            "train": train,
        }, task
        assert [len(data[task][s]) for s in ("test", "validation", "train")] == [
            test,
            validation,
            train,
        ]


def test_records_are_well_formed_and_splits_share_no_key(built):
    for task, splits in built[2].items():
        owner = {}
        for split in SPLITS:
            for r in splits[split]:
                assert set(r) == {"id", "entities", "input", "answers"}, (task, r)
                assert (
                    r["input"]
                    and r["answers"]
                    and all(isinstance(a, str) and a for a in r["answers"])
                )
                assert r["input"].casefold() not in {a.casefold() for a in r["answers"]}, (
                    r
                )  # no copy items
                for key in r["entities"]:
                    assert owner.setdefault(key, split) == split, (task, key)


def test_no_item_string_appears_in_the_targets(built, targets):
    """No input and no accepted answer of any mapping item, any split, occurs as a whole word
    (any case: mini's `Reserved` rule) in any nli or en-fr item, or v2's reading nli item."""
    strings = {
        s
        for splits in built[2].values()
        for split in SPLITS
        for r in splits[split]
        for s in [r["input"], *r["answers"]]
    }
    reserved = Reserved(strings)
    hits = [
        (task, r["id"], reserved.hit(r))
        for task, splits in targets.items()
        for split in SPLITS
        for r in splits[split]
        if reserved.hit(r)
    ]
    assert hits == []
    assert (
        sum(len(targets[t][s]) for t in targets for s in SPLITS) > 500
    )  # the targets were there to check


def test_answers_follow_the_rule_on_known_items(built):
    by_input = {
        task: {r["input"]: r["answers"] for s in SPLITS for r in splits[s]}
        for task, splits in built[2].items()
    }
    assert by_input["num-words"]["612"][:2] == ["six hundred and twelve", "six hundred twelve"]
    assert by_input["num-ordinal"]["372"][0] == "three hundred and seventy-second"
    assert by_input["plural"]["priest"] == ["priests"]
    assert by_input["past-tense"]["deal"][0] == "dealt"
    assert by_input["city-continent"]["Chennai"] == ["Asia"]
    assert by_input["symbol-element"]["Y"] == ["yttrium"]
    assert by_input["gerund"]["guide"] == ["guiding"] and by_input["third-person"]["post"] == [
        "posts"
    ]
    assert by_input["singular"]["priests"] == ["priest"] and by_input["first-letter"]["men"] == [
        "m"
    ]
    assert by_input["next-number"]["eight hundred and nine"][:2] == [
        "eight hundred and ten",
        "eight hundred ten",
    ]
    continents = [r["answers"][0] for s in SPLITS for r in built[2]["city-continent"][s]]
    assert {c: continents.count(c) for c in set(continents)} == {
        c: mapping.CITIES_PER_CONTINENT
        for c in ("Asia", "Europe", "North America", "South America")
    }


@pytest.mark.slow  # 6 s or more on 2 cores: out of the fast lane (tox -e fast)
def test_countries_alone_could_not_make_a_disjoint_continent_probe(targets):
    grams = mapping.target_words(1234)
    assert len(mapping.disjoint(mapping.countries_continent("country-continent"), grams)) == 35


@pytest.fixture(scope="module")
def task_dict():
    from lm_eval.tasks import get_task_dict

    return get_task_dict(sorted(GOLDEN), evaluation.task_manager())


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_rendered_prompt(name, task_dict):
    task = task_dict[name]
    assert task.config.num_fewshot == 1 and task.config.metadata["version"] == 2.2
    assert task.fewshot_context(task.test_docs()[0], num_fewshot=1) == GOLDEN[name]


def test_scoring_is_exact_match_on_the_first_line(task_dict):
    task = task_dict["promot_mini_map_num_words"]
    doc = task.test_docs()[0]  # 740: seven hundred and forty
    assert task.process_results(doc, [" seven hundred forty\n\n741 -> seven"])["score"] == 100.0
    assert task.process_results(doc, [" Seven hundred and forty."])["exact_match"] == 1.0
    assert task.process_results(doc, [" seven hundred and fourteen"])["score"] == 0.0


def test_probes_are_in_v2_groups_only():
    text = "".join(
        (MAPPING_DIR.parent / f).read_text() for f in ("promot_mini.yaml", "promot_mini_4shot.yaml")
    )
    assert "promot_mini_map_" not in text
    kept = (
        "num_words",
        "next_number",
        "plural",
        "singular",
        "past_tense",
        "gerund",
        "third_person",
        "first_letter",
        "city_continent",
    )
    for group in ("promot_mini_v2.yaml", "promot_mini_v2_4shot.yaml"):
        members = re.findall(r"^  - (\w+)$", (MAPPING_DIR.parent / group).read_text(), re.M)
        assert sorted(members) == sorted(
            ["promot_mini_qa_capitals"] + [f"promot_mini_map_{k}" for k in kept]
        )
