"""promot_mini scoring: the study's post-processing and metrics (tasks/metrics.py) mapped onto
the mini data's fields. Classification labels are stored as words ("True"/"False"/"Neither")."""

from promot_bench.tasks.metrics import (
    bleu_aggregation,
    chrf_aggregation,
    classification_scores,
    qa_scores,
    summary_scores,
    translation_pair,
)

__all__ = [
    "bleu_aggregation",
    "chrf_aggregation",
    "classification_2way",
    "classification_3way",
    "qa_process_results",
    "translation_process_results",
    "summary_process_results",
]

TWO_WAY = ("True", "False")
THREE_WAY = ("True", "False", "Neither")


def classification_2way(doc, results):
    return classification_scores(results[0], TWO_WAY, doc["label"])


def classification_3way(doc, results):
    return classification_scores(results[0], THREE_WAY, doc["label"])


def qa_process_results(doc, results):
    return qa_scores(results[0], doc["answers"])


def translation_process_results(doc, results):
    return translation_pair(results[0], doc["target"], ("bleu", "chrf", "score"))


def summary_process_results(doc, results):
    return summary_scores(results[0], doc["summary"])
