"""The promot_mini lm-eval tasks: they load, render the study's formats on the built data,
score with the shared metrics, and run end to end on a tiny model."""

import pytest
import sacrebleu
from lm_eval.tasks import get_task_dict

from promot_bench.evaluate import evaluation
from promot_bench.models import specs
from promot_bench.tasks.metrics import chrf_aggregation
from promot_bench.train import task_data

EVAL = [
    "promot_mini_nli3",
    "promot_mini_same_word",
    "promot_mini_qa_capitals",
    "promot_mini_qa_currencies",
    "promot_mini_en_de",
    "promot_mini_en_ro",
    "promot_mini_sum_django",
    "promot_mini_sum_pyglet",
]
TARGETS = ["promot_mini_nli", "promot_mini_en_fr"]

# The first test item of each task with its demonstration (the first train item), as the
# seed-1234 build renders them: the study's PaLM-style formats (Wang et al., arXiv 2211.00635).
GOLDEN = {
    "promot_mini_nli": "With a population of 172,357, Gisenyi is one of the cities of Rwanda. "
    "Totonicapán is a "
    "city in Guatemala with 103,952 inhabitants. question: Totonicapán is in Guatemala. Is it "
    "true or false? answer:",
    "promot_mini_en_fr": "Translate English to French: Gurmukhi",
    "promot_mini_nli3": "Tarija and Cochabamba are cities in Bolivia. Tarija has 159,269 "
    "inhabitants and Cochabamba "
    "has 841,276. question: Cochabamba has more inhabitants than Tarija. Is it true or false or "
    "neither? answer: True\n\nIn Argentina, the city of Mar del Plata has a population of "
    "593,337, and San Nicolás de los Arroyos has 134,217 inhabitants. question: Mar del Plata has "
    "more than 250,000 inhabitants. Is it true or false or neither? answer:",
    "promot_mini_same_word": "The franc is the money used in Equatorial Guinea. In the Republic of "
    "the Congo, people "
    "pay with the franc. question: The word franc refers to the same currency in the two "
    "sentences. Is it true or False? answer: True\n\nThe dollar is the money used in Timor "
    "Leste. Palau uses the dollar as its currency. question: The word dollar refers to the "
    "same currency in the two sentences. Is it true or False? answer:",
    "promot_mini_qa_capitals": "Q: What is the capital of American Samoa? A: Pago Pago\n\n"
    "Q: What is the capital of Armenia? A:",
    "promot_mini_qa_currencies": "Q: What currency is used in Namibia? A: Namibia Dollar\n\n"
    "Q: What currency is used in Botswana? A:",
    "promot_mini_en_de": "Translate English to German: Catalan Katalanisch\n\nTranslate English to "
    "German: English",
    "promot_mini_en_ro": "Translate English to Romanian: Croatian croată\n\nTranslate English to "
    "Romanian: English",
    "promot_mini_sum_pyglet": "Article: This module provides efficient abstractions over OpenGL "
    "objects, such as "
    "Shaders and Buffers. It also provides classes for highly performant batched rendering "
    "and grouping. See the guide_graphics for details on how to use this graphics API. One "
    "sentence summary: Low-level graphics rendering and abstractions.\n\nArticle: Field "
    "data can vary from version to version, however assigning _fields_ automatically "
    "assigns memory. _fields_ can also not be re-assigned. Use a temporary list that can "
    "be manipulated before setting the _fields_ of the Structure. One sentence summary:",
}


@pytest.fixture(scope="module")
def manager():
    return evaluation.task_manager()


@pytest.fixture(scope="module")
def task_dict(manager):
    return get_task_dict(EVAL + TARGETS, manager)


def test_all_tasks_and_groups_are_indexed(manager):
    names = set(manager.all_tasks)
    assert (
        set(EVAL + TARGETS) | {"promot_mini", "promot_mini_4shot", "promot_mini_targets"} <= names
    )


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_rendered_prompt_is_the_studys_format(name, task_dict):
    task = task_dict[name]
    doc = task.test_docs()[0]
    assert task.fewshot_context(doc, num_fewshot=task.config.num_fewshot) == GOLDEN[name]


def test_targets_are_zero_shot_and_eval_tasks_one_shot(task_dict):
    assert {task_dict[n].config.num_fewshot for n in TARGETS} == {0}
    assert {task_dict[n].config.num_fewshot for n in EVAL} == {1}


def test_scoring_is_first_word_and_off_format_answers_score_zero(task_dict):
    nli = task_dict["promot_mini_nli"]
    doc = nli.test_docs()[0]  # gold: True
    assert nli.process_results(doc, [" True, because"])["score"] == 100.0
    assert nli.process_results(doc, [" False"])["score"] == 0.0
    assert nli.process_results(doc, [" Paris"])["score"] == 0.0
    qa = task_dict["promot_mini_qa_capitals"]
    assert qa.process_results(qa.test_docs()[0], [" yerevan.\n\nQ: next"])["exact_match"] == 1.0


def test_translation_score_is_corpus_chrf():
    pairs = [("Englisch", "Englisch"), ("Katalan", "Katalanisch"), ("x", "Kru-Sprachen")]
    expected = sacrebleu.corpus_chrf([p for p, _ in pairs], [[r for _, r in pairs]]).score
    assert chrf_aggregation(pairs) == expected and 0 < expected < 100


def test_target_training_examples_come_from_the_train_split(manager):
    task = task_data.load_task("promot_mini_nli", manager)
    examples = task_data.training_examples(task)
    assert len(examples) == 400
    assert {e.completion for e in examples} == {" True", " False"}
    assert examples[0].prompt.endswith("Is it true or false? answer:")
    validation = task_data.validation_task(task)
    assert (
        len(validation.eval_docs) == 60 and len(task.eval_docs) == 100
    )  # the original is untouched


def test_group_runs_end_to_end_on_a_tiny_model(tiny_llama_dir, manager):
    loaded = specs.load(specs.resolve(str(tiny_llama_dir)))
    scores = evaluation.evaluate(
        loaded.model,
        loaded.tokenizer,
        ["promot_mini"],
        evaluation.EvalOptions(limit=2, manager=manager, bootstrap_iters=0),
    )
    assert set(scores) == set(EVAL)
    for score in scores.values():
        assert score.n == 2 and 0.0 <= score.value <= 100.0
        assert len(score.samples) == 2 and all(s["prompt"] for s in score.samples)
