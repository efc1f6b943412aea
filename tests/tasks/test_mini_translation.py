"""promot_mini v2's translation target (tasks/mini/translation): v1's en-fr names less every
v2 probe string, deterministic, entity-disjoint splits, the rendered prompt."""

import json
import re

import pytest

from promot_bench.evaluate import evaluation
from promot_bench.store import cache
from promot_bench.tasks.mini import build as mini
from promot_bench.tasks.mini.builders import settings
from promot_bench.tasks.mini.builders.common import Reserved
from promot_bench.tasks.mini.translation import build as translation

SPLITS = settings.SPLITS


@pytest.fixture(scope="module")
def built():
    """The shipped build (tests/tasks/test_shipped_data.py checks that these builders made it);
    only the determinism tests (slow) build afresh."""
    out = mini.shipped_folder(translation.SUITE, translation.SCHEMA_VERSION, 1234)
    return out, cache.read_manifest(out)


@pytest.fixture(scope="module")
def en_fr(built):
    """The built items, per split, read back from the files the build wrote."""
    folder = built[0] / "en-fr"
    return {
        s: [json.loads(line) for line in (folder / f"{s}.jsonl").read_text().splitlines()]
        for s in SPLITS
    }


@pytest.fixture(scope="module")
def reserved(v2_probe_strings):
    return Reserved(v2_probe_strings)


@pytest.mark.slow
def test_build_is_deterministic_and_hashed(built, tmp_path):
    first, second = built[1], translation.build(tmp_path / "b")
    assert {k: first[k] for k in second} == second and re.fullmatch(
        r"[0-9a-f]{64}", first["data_hash"]
    )
    sizes = first["tasks"]["en-fr"]
    assert sizes == {"test": 400, "validation": 60, "train": 400}


@pytest.mark.slow  # the probe strings take 14 s: out of the fast lane (tox -e fast)
def test_no_v2_probe_string_appears_in_any_item(en_fr, reserved):
    items = [r for s in SPLITS for r in en_fr[s]]
    assert [(r["id"], reserved.hit(r)) for r in items if reserved.hit(r)] == []
    assert len(reserved.strings) > 2000  # there was something to check


@pytest.mark.slow  # over 8 s here: the fast lane's rule
@pytest.mark.slow  # the probe strings take 14 s: out of the fast lane (tox -e fast)
def test_its_items_are_v1s_and_the_iso_639_3_languages_less_the_probe_strings(en_fr, reserved):
    """Every item is a v1 item or an ISO 639-3 language v1 leaves out, naming no probe string; a
    sizeable share of v1 (the qa_capitals countries) does overlap; the languages are new name
    groups, enough for 400 test items beside validation and train."""
    v1 = [r for s in SPLITS for r in mini.build_tasks(1234)["en-fr"][s]]
    more = translation.more_languages(1234, {r["entities"][0] for r in v1})
    clear = [r for r in v1 + more if not reserved.hit(r)]
    kept = [r for s in SPLITS for r in en_fr[s]]
    assert len([r for r in v1 if not reserved.hit(r)]) < len(v1) * 3 // 4
    assert {(r["source"], r["target"]) for r in kept} <= {(r["source"], r["target"]) for r in clear}
    assert not {r["entities"][0] for r in more} & {r["entities"][0] for r in v1}
    assert len(more) > 1500 and len(kept) == 860


def test_splits_share_no_entity(en_fr):
    owner = {}
    for split in SPLITS:
        for r in en_fr[split]:
            assert owner.setdefault(r["entities"][0], split) == split, r["id"]


def test_rendered_prompt_has_an_answer_slot(en_fr):
    from lm_eval.tasks import get_task_dict

    task = get_task_dict(["promot_mini_v2_en_fr"], evaluation.task_manager())[
        "promot_mini_v2_en_fr"
    ]
    doc = task.test_docs()[0]
    assert task.config.num_fewshot == 0 and task.config.metadata["version"] == 3.0
    assert doc["source"] == en_fr["test"][0]["source"]
    assert (
        task.fewshot_context(doc, num_fewshot=0)
        == f"Translate English to French: {doc['source']}\nFrench:"
    )
    assert task.doc_to_target(doc) == en_fr["test"][0]["target"]
