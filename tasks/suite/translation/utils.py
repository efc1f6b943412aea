"""WMT translation (English to German / Romanian / French): corpus BLEU.

`process_results` keeps the (prediction, reference) pair; `bleu_aggregation` computes
corpus BLEU over all pairs, as WMT results are reported.
"""

from promot_bench.tasks.metrics import bleu_aggregation, translation_pair

__all__ = ["bleu_aggregation", "process_results_de", "process_results_fr", "process_results_ro"]


def _scorer(target_language):
    """process_results for English -> `target_language` (a key of doc["translation"])."""

    def process_results(doc, results):
        return translation_pair(results[0], doc["translation"][target_language])

    return process_results


process_results_de = _scorer("de")
process_results_ro = _scorer("ro")
process_results_fr = _scorer("fr")
