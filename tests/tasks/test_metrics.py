"""Shared scoring functions (promot_bench.tasks.metrics) against hand-made cases and the
reference implementations (sacrebleu, rouge-score) they wrap."""

import pytest
import sacrebleu
from rouge_score import rouge_scorer

from promot_bench.tasks.metrics import (
    bleu_aggregation,
    corpus_bleu,
    cut_at_prefixes,
    exact_match,
    first_word_label,
    normalize_answer,
    rouge2_f,
)

NLI = ("True", "False", "Neither")


@pytest.mark.parametrize(
    ("text", "prefixes", "expected"),
    [
        (" Paris\n\nQ: What is the capital of Spain? A: Madrid", ("\n", "Q:"), "Paris"),
        (" Paris Q: What is the capital of Spain?", ("\n", "Q:"), "Paris"),
        (" Das Haus ist klein. Translate English to", ("\n", "Translate"), "Das Haus ist klein."),
        ("A short summary. Article: next one", ("\n", "Article:"), "A short summary."),
        ("\n Paris", ("\n", "Q:"), "Paris"),  # leading whitespace is the separator
        (" Q: nothing before the prefix", ("\n", "Q:"), ""),
        ("  no prefix at all  ", ("\n", "Q:"), "no prefix at all"),
        ("text", (), "text"),
    ],
)
def test_cut_at_prefixes(text, prefixes, expected):
    assert cut_at_prefixes(text, prefixes) == expected


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        (" True, because the premise says so", NLI, "True"),
        (" false.", NLI, "False"),
        ("NEITHER", NLI, "Neither"),
        (" Paris", NLI, None),  # off-format answer: the format-specialization signal
        (" The answer is True", NLI, None),  # only the first word counts
        ("", NLI, None),
        ("   ", NLI, None),
        (" Neither", ("True", "False"), None),  # not a label of a 2-way task
        (" (B) an iron nail", ("A", "B", "C", "D"), "B"),
        (" C)", ("A", "B", "C", "D"), "C"),
    ],
)
def test_first_word_label(text, labels, expected):
    assert first_word_label(text, labels) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Eiffel Tower!", "eiffel tower"),
        ("  an   Apple, a day ", "apple day"),
        ("Herman Melville.", "herman melville"),
        ("Theatre", "theatre"),  # "the" only as a whole word
        ("U.S.A.", "usa"),
    ],
)
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


def test_exact_match_accepts_any_alias_after_normalization():
    aliases = ["Herman Melville", "Melville"]
    assert exact_match("the melville.", aliases) == 1.0
    assert exact_match("Herman  Melville", aliases) == 1.0
    assert exact_match("Herman Melvile", aliases) == 0.0
    assert exact_match("", aliases) == 0.0


PREDICTIONS = [
    "The house is small.",
    "It rains since three days.",
    "The museum is closed on Monday.",
]
REFERENCES = [
    "The house is small.",
    "It has been raining for three days.",
    "The museum is closed on Mondays.",
]


def test_corpus_bleu_is_100_for_a_copy_0_without_a_shared_word_and_between_otherwise():
    assert corpus_bleu(["the cat sat on the mat"], ["the cat sat on the mat"]) == pytest.approx(
        100.0
    )
    assert corpus_bleu(["dog runs fast today"], ["the cat sat on the mat"]) == 0.0
    partial = corpus_bleu(PREDICTIONS, REFERENCES)
    assert 0.0 < partial < 100.0
    # more of the reference in the prediction, a higher score
    assert corpus_bleu(REFERENCES[1:2], REFERENCES[1:2]) > corpus_bleu(
        PREDICTIONS[1:2], REFERENCES[1:2]
    )


def test_bleu_aggregation_is_corpus_level_not_a_sentence_mean():
    pairs = list(zip(PREDICTIONS, REFERENCES))
    assert bleu_aggregation(pairs) == corpus_bleu(PREDICTIONS, REFERENCES)
    sentence_mean = sum(sacrebleu.sentence_bleu(p, [r]).score for p, r in pairs) / len(pairs)
    assert bleu_aggregation(pairs) != pytest.approx(sentence_mean)


def test_rouge2_f_matches_rouge_score():
    prediction, reference = "the cat sat on a mat", "the cat sat on the mat"
    # 3 of 5 bigrams shared each way: P = R = F = 0.6.
    assert rouge2_f(prediction, reference) == pytest.approx(60.0)
    reference_scorer = rouge_scorer.RougeScorer(["rouge2"], use_stemmer=False)
    for pred, ref in [
        (prediction, reference),
        ("Electric buses will run in Bristol.", "Electric buses will run on two Bristol routes."),
        ("Flooding closed roads.", "Flooding has closed roads and a school in Cumbria."),
    ]:
        assert rouge2_f(pred, ref) == 100.0 * reference_scorer.score(ref, pred)["rouge2"].fmeasure
    assert rouge2_f("", reference) == 0.0
