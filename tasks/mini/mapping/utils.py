"""Scoring of the mapping probes: exact match after SQuAD normalization against any accepted
answer, the output cut at its first line (the shared `qa_scores`)."""

from promot_bench.tasks.metrics import qa_scores

__all__ = ["process_results"]


def process_results(doc, results):
    return qa_scores(results[0], doc["answers"])
