"""Scoring of the mapping probes: exact match after SQuAD normalization against any accepted
answer, the output cut at its first line (the shared `qa_scores`)."""

from promot_bench.tasks.metrics import bleu_aggregation, chrf_aggregation, qa_scores, translation_pair

__all__ = ["bleu_aggregation", "chrf_aggregation", "process_results", "translation_process_results"]


def process_results(doc, results):
    return qa_scores(results[0], doc["answers"])


def translation_process_results(doc, results):
    return translation_pair(results[0], doc["answers"][0], ("bleu", "chrf", "score"))
