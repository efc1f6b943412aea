"""Closed-book QA (TriviaQA, WebQuestions) and OpenbookQA scoring.

QA: the generation is cut at the next "Q:" demonstration or newline, then exact match
with SQuAD normalization against any gold alias. OpenbookQA: the first generated word
must name the gold option letter.
"""

from promot_bench.tasks.metrics import cut_at_prefixes, exact_match, first_word_label

QA_STOP = ("\n", "Q:")
OPTION_LETTERS = ("A", "B", "C", "D")


def _qa_scores(generation, aliases):
    match = exact_match(cut_at_prefixes(generation, QA_STOP), aliases)
    return {"exact_match": match, "score": 100.0 * match}


def triviaqa_process_results(doc, results):
    return _qa_scores(results[0], doc["answer"]["aliases"])


def webqs_process_results(doc, results):
    return _qa_scores(results[0], doc["answers"])


def openbookqa_process_results(doc, results):
    correct = first_word_label(results[0], OPTION_LETTERS) == doc["answerKey"].strip()
    return {"acc": float(correct), "score": 100.0 * correct}
