"""Closed-book QA (TriviaQA, WebQuestions) and OpenbookQA scoring.

QA: the generation is cut at the next "Q:" demonstration or newline, then exact match
with SQuAD normalization against any gold alias. OpenbookQA: the first generated word
must name the gold option letter.
"""

from promot_bench.tasks.metrics import classification_scores, qa_scores

OPTION_LETTERS = ("A", "B", "C", "D")


def triviaqa_process_results(doc, results):
    return qa_scores(results[0], doc["answer"]["aliases"])


def webqs_process_results(doc, results):
    return qa_scores(results[0], doc["answers"])


def openbookqa_process_results(doc, results):
    return classification_scores(results[0], OPTION_LETTERS, doc["answerKey"].strip())
