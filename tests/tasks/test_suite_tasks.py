"""The promot_suite lm-eval tasks (tasks/suite): loading, prompts, scoring, groups.

Runs offline: PROMOT_BENCH_SUITE_DATA points the tasks' loader at the JSONL fixtures in
tests/fixtures/suite_data/<task>/<split>.jsonl (rows in each Hub dataset's own schema).
"""

from pathlib import Path

import pytest
from lm_eval.tasks import TaskManager
from lm_eval.tasks._yaml_loader import load_yaml

from promot_bench.tasks.metrics import bleu_aggregation

SUITE = Path(__file__).resolve().parents[2] / "tasks" / "suite"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "suite_data"
DATA_ENV = "PROMOT_BENCH_SUITE_DATA"

EVAL_TASKS = [
    "promot_cb",
    "promot_wic",
    "promot_triviaqa",
    "promot_webqs",
    "promot_wmt16_en_de",
    "promot_wmt16_en_ro",
    "promot_xsum",
    "promot_wikilingua",
]
TARGET_TASKS = ["promot_rte", "promot_wmt14_en_fr", "promot_snli", "promot_openbookqa"]
GROUPS = ["promot_suite", "promot_suite_4shot", "promot_targets"]

# The study's PaLM-style formats, rendered for the first evaluation row of each fixture:
# 1-shot (first row of the few-shot split) for the evaluation tasks, 0-shot for targets.
GOLDEN_PROMPTS = {
    "promot_cb": (
        "The ferry had already left when Anna reached the harbour, so she took a room for the"
        " night. question: the ferry had left Is it true or false or neither? answer: True\n\n"
        "The lights in the lab were still on at midnight. I think the students were finishing"
        " their project. question: the students were finishing their project Is it true or"
        " false or neither? answer:"
    ),
    "promot_wic": (
        "They walked along the bank of the river. She deposited the check at the bank."
        " question: The word bank is used in the same way in the two sentences."
        " Is it true or False? answer: False\n\n"
        "The children play in the garden. We went to see a play at the theatre."
        " question: The word play is used in the same way in the two sentences."
        " Is it true or False? answer:"
    ),
    "promot_triviaqa": (
        "Q: Which planet is known as the Red Planet? A: Mars\n\n"
        "Q: Who wrote the novel 'Moby-Dick'? A:"
    ),
    "promot_webqs": (
        "Q: what is the name of justin bieber brother? A: Jazmyn Bieber\n\n"
        "Q: what is the capital of france? A:"
    ),
    "promot_wmt16_en_de": (
        "Translate English to German: The house is small.\nGerman: Das Haus ist klein.\n\n"
        "Translate English to German: The government has announced new rules.\nGerman:"
    ),
    "promot_wmt16_en_ro": (
        "Translate English to Romanian: The house is small.\nRomanian: Casa este mică.\n\n"
        "Translate English to Romanian: The weather is nice today.\nRomanian:"
    ),
    "promot_xsum": (
        "Article: The new library in Leeds opened its doors on Saturday after three years of"
        " building work. More than 2,000 people visited on the first day, the city council"
        " said. The building cost £20m and holds 150,000 books. One sentence summary:"
        " A new £20m library has opened in Leeds.\n\n"
        "Article: A bus company in Bristol will run electric buses on two routes from June."
        " The firm said the 20 new vehicles would cut emissions in the city centre."
        " Passengers will pay the same fares. One sentence summary:"
    ),
    "promot_wikilingua": (
        "Article: Fill a pot with water and put it on the stove. Turn the heat to high and wait"
        " until the water bubbles. Add a pinch of salt before you add the pasta."
        " One sentence summary: Boil salted water in a pot.\n\n"
        "Article: Unplug the lamp before you start. Unscrew the old bulb by turning it"
        " counterclockwise. Screw in the new bulb until it is snug. One sentence summary:"
    ),
    "promot_rte": (
        "The new bridge over the Elbe was opened by the mayor of Dresden in 2010."
        " question: A bridge was opened in Dresden. Is it true or false? answer:"
    ),
    "promot_wmt14_en_fr": "Translate English to French: The cat sleeps on the sofa.\nFrench:",
    "promot_snli": (
        "A man is playing a guitar on a stage. question: A man is performing music."
        " Is it true or false or neither? answer:"
    ),
    "promot_openbookqa": (
        "Q: A magnet will stick to A) a wooden table B) an iron nail C) a glass cup"
        " D) a paper bag A:"
    ),
}


@pytest.fixture(scope="module")
def task_manager():
    return TaskManager(include_path=str(SUITE), include_defaults=False)


@pytest.fixture(scope="module")
def fixture_data():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(DATA_ENV, str(FIXTURES))
        yield


@pytest.fixture(scope="module")
def suite(task_manager, fixture_data):
    """Both groups, built once over the fixture data: {"tasks", "groups", "group_map"}."""
    return task_manager.load(["promot_suite", "promot_targets"])


@pytest.fixture(scope="module")
def tasks(suite):
    return suite["tasks"]


def _yaml_files():
    return sorted(SUITE.rglob("*.yaml"))


def test_every_yaml_is_indexed_and_its_functions_resolve(task_manager):
    # lm-eval's index skips a YAML it cannot parse without a word: check each one.
    names = []
    for path in _yaml_files():
        config = load_yaml(path, resolve_func=True)  # imports utils.py, resolves !function
        names.append(config.get("group") or config["task"])
    assert sorted(names) == sorted(EVAL_TASKS + TARGET_TASKS + GROUPS)
    assert sorted(task_manager.all_tasks) == sorted(names)
    assert sorted(task_manager.all_groups) == sorted(GROUPS)


def test_promot_suite_groups_the_eight_eval_tasks_at_1_shot(suite, tasks):
    assert suite["group_map"]["promot_suite"] == EVAL_TASKS
    assert {name: tasks[name].config.num_fewshot for name in EVAL_TASKS} == dict.fromkeys(
        EVAL_TASKS, 1
    )
    (aggregate,) = suite["groups"]["promot_suite"].aggregate_metric_list
    assert aggregate.metric == "score"
    assert (aggregate.aggregation, aggregate.weight_by_size) == ("mean", False)


def test_promot_targets_are_0_shot(suite, tasks):
    assert suite["group_map"]["promot_targets"] == TARGET_TASKS
    shots = {name: tasks[name].config.num_fewshot for name in TARGET_TASKS}
    assert shots == dict.fromkeys(TARGET_TASKS, 0)


def test_promot_suite_4shot_overrides_num_fewshot(task_manager, fixture_data):
    loaded = task_manager.load(["promot_suite_4shot"])
    assert loaded["group_map"]["promot_suite_4shot"] == EVAL_TASKS
    shots = {name: task.config.num_fewshot for name, task in loaded["tasks"].items()}
    assert shots == dict.fromkeys(EVAL_TASKS, 4)
    cb = loaded["tasks"]["promot_cb"]
    prompt = cb.fewshot_context(cb.eval_docs[0], num_fewshot=4)
    demonstrations = prompt.split("\n\n")[:-1]
    # The first four training rows, in file order: deterministic demonstrations.
    assert [d.rsplit("answer: ", 1)[1] for d in demonstrations] == [
        "True",
        "False",
        "Neither",
        "False",
    ]
    assert demonstrations[0] == GOLDEN_PROMPTS["promot_cb"].split("\n\n")[0]
    # Same task names as promot_suite: lm-eval refuses both in one run rather than mixing them.
    with pytest.raises(ValueError, match="Duplicate task"):
        task_manager.load(["promot_suite", "promot_suite_4shot"])


@pytest.mark.parametrize("name", EVAL_TASKS + TARGET_TASKS)
def test_prompt_matches_the_study_format(tasks, name):
    task = tasks[name]
    prompt = task.fewshot_context(task.eval_docs[0], num_fewshot=task.config.num_fewshot)
    assert prompt == GOLDEN_PROMPTS[name]


@pytest.mark.parametrize("name", EVAL_TASKS + TARGET_TASKS)
def test_every_task_reports_a_score(tasks, name):
    task = tasks[name]
    assert "score" in task.aggregation()
    assert task.higher_is_better()["score"] is True


@pytest.mark.parametrize(
    ("name", "doc_index", "generation", "expected"),
    [
        # Classification: the first word decides.
        ("promot_cb", 0, " True, because the lights were on", {"acc": 1.0, "score": 100.0}),
        ("promot_cb", 0, " Paris", {"acc": 0.0, "score": 0.0}),
        ("promot_cb", 1, " neither.", {"acc": 1.0, "score": 100.0}),
        ("promot_wic", 0, " false", {"acc": 1.0, "score": 100.0}),
        ("promot_wic", 1, " True\n\nThe", {"acc": 1.0, "score": 100.0}),
        ("promot_rte", 0, " True", {"acc": 1.0, "score": 100.0}),
        ("promot_rte", 1, " Neither", {"acc": 0.0, "score": 0.0}),
        ("promot_snli", 1, " False", {"acc": 1.0, "score": 100.0}),
        ("promot_openbookqa", 0, " B) an iron nail", {"acc": 1.0, "score": 100.0}),
        ("promot_openbookqa", 0, " an iron nail", {"acc": 0.0, "score": 0.0}),
        # QA: cut at the next prefix, exact match after normalization, any alias.
        (
            "promot_triviaqa",
            0,
            " Melville\n\nQ: Capital of Peru?",
            {"exact_match": 1.0, "score": 100.0},
        ),
        (
            "promot_triviaqa",
            0,
            " The Herman Melville. Q: next",
            {"exact_match": 1.0, "score": 100.0},
        ),
        ("promot_triviaqa", 0, " True", {"exact_match": 0.0, "score": 0.0}),
        ("promot_webqs", 1, " Harvard Law School", {"exact_match": 1.0, "score": 100.0}),
        # Summarization: ROUGE-2 F x100 of the cut generation.
        (
            "promot_xsum",
            0,
            " Electric buses will run on two Bristol routes from June.\n\nArticle: next",
            {"rouge2": 100.0, "score": 100.0},
        ),
        ("promot_wikilingua", 0, " Article: Unplug it.", {"rouge2": 0.0, "score": 0.0}),
    ],
)
def test_process_results(tasks, name, doc_index, generation, expected):
    task = tasks[name]
    assert task.process_results(task.eval_docs[doc_index], [generation]) == pytest.approx(expected)


def test_translation_keeps_pairs_for_corpus_bleu(tasks):
    task = tasks["promot_wmt16_en_de"]
    generations = [
        " Die Regierung hat neue Regeln angekündigt.\n\nTranslate English to German: x",
        " Es regnet drei Tage. Translate English",
        " Das Museum ist montags zu.",
    ]
    items = [task.process_results(doc, [g]) for doc, g in zip(task.eval_docs, generations)]
    pairs = [item["bleu"] for item in items]
    assert pairs[0] == ("Die Regierung hat neue Regeln angekündigt.",) * 2
    assert pairs[1] == ("Es regnet drei Tage.", "Es regnet seit drei Tagen.")
    assert [item["score"] for item in items] == pairs
    assert task.aggregation()["bleu"](pairs) == bleu_aggregation(pairs)
    assert task.aggregation()["score"](pairs) == bleu_aggregation(pairs)


def test_summarization_articles_are_cut_to_1024_words(tasks):
    raw = (FIXTURES / "promot_xsum" / "test.jsonl").read_text(encoding="utf-8").splitlines()[1]
    assert len(raw.split()) > 1024
    assert len(tasks["promot_xsum"].eval_docs[1]["document"].split()) == 1024


def test_snli_drops_pairs_without_gold_label(tasks):
    assert [doc["label"] for doc in tasks["promot_snli"].eval_docs] == [0, 2, 1]


def _tiny_model_and_tokenizer():
    """A randomly initialised 2-layer Llama and a byte-level BPE trained on the fixtures:
    no model hub needed."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512,
        special_tokens=["<pad>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    corpus = [f.read_text(encoding="utf-8") for f in sorted(FIXTURES.rglob("*.jsonl"))]
    bpe.train_from_iterator(corpus, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    return LlamaForCausalLM(config).eval(), tokenizer


def test_simple_evaluate_end_to_end_on_a_tiny_model(task_manager, fixture_data):
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM

    model, tokenizer = _tiny_model_and_tokenizer()
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=4, device="cpu")
    out = simple_evaluate(
        model=lm,
        tasks=["promot_suite", "promot_targets"],
        task_manager=task_manager,
        limit=2,
        bootstrap_iters=0,
        log_samples=False,
        gen_kwargs={"max_gen_toks": 16},  # a random model rarely stops early: keep it short
    )
    results = out["results"]
    scores = {name: results[name]["score,none"] for name in EVAL_TASKS + TARGET_TASKS}
    assert all(0.0 <= s <= 100.0 for s in scores.values())
    assert out["n-shot"]["promot_cb"] == 1 and out["n-shot"]["promot_rte"] == 0
    # The group's score is the plain mean of the 8 evaluation tasks' scores.
    expected_mean = sum(scores[name] for name in EVAL_TASKS) / len(EVAL_TASKS)
    assert results["promot_suite"]["score,none"] == pytest.approx(expected_mean)
