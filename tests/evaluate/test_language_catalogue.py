"""The collapse rule for a translation target sees short French (names of one to four words):
checked on en-fr's own gold answers and the pretrained model's committed probe outputs, with the
bounds issue 43 set (recall >= 90%, false positives <= 2%)."""

import gzip
import json
from pathlib import Path

import pytest

from promot_bench.evaluate import evaluation, formats, language_catalogue
from promot_bench.train import task_data

BASELINES = Path(__file__).parents[2] / "results/runs/smollm2-135m/mini/baselines"


@pytest.fixture(scope="module")
def en_fr():
    task = task_data.load_task("promot_mini_v2_en_fr", evaluation.task_manager())
    fmt = formats.target_format(task_data.training_examples(task))
    return task, fmt


def pretrained_probe_outputs() -> list[str]:
    outputs = []
    for path in sorted(BASELINES.glob("*.samples.jsonl.gz")):
        rows = [json.loads(line) for line in gzip.open(path, "rt")]
        outputs += [r["output"] for r in rows if r["phase"] == "before"]
    return outputs


def test_the_catalogue_finds_french_in_most_gold_answers_and_few_pretrained_outputs(en_fr):
    task, fmt = en_fr
    assert fmt.language == "fr" and fmt.catalogue is not None
    golds = [task.doc_to_target(doc) for doc in task.test_docs()]
    recall = sum(fmt.matches(g) for g in golds) / len(golds)
    words_only = sum(formats.language_of(g) == "fr" for g in golds) / len(golds)
    outputs = pretrained_probe_outputs()
    tagged = sum(fmt.matches(o) for o in outputs) / len(outputs)
    assert len(golds) == 400 and len(outputs) >= 3949
    assert recall >= 0.90 and words_only < 0.30  # the function words alone: 24%
    assert tagged <= 0.02


def test_a_catalogue_learns_words_and_endings_that_english_text_lacks():
    answers = ["Katabanien", "Tavoyen de Kosarek", "Phénicien du nord", "Marsien de Mala"] * 3
    english = ["the north of Mala is a region of Kosarek and the sea"] * 50
    cat = language_catalogue.fit(answers, english)
    assert {"de", "du", "katabanien"} <= cat.words and "mala" not in cat.words
    assert "ien" in cat.endings
    assert cat.matches("Akkadien") and cat.matches("Otomi de Querétaro")
    assert not cat.matches("the sea of Mala") and not cat.matches(
        "bien"
    )  # too short to end in "ien"
