"""WMT translation (English to German / Romanian / French): corpus BLEU.

`process_results` keeps the (prediction, reference) pair; `bleu_aggregation` computes
corpus BLEU over all pairs, as WMT results are reported.
"""

from promot_bench.tasks.metrics import bleu_aggregation, cut_at_prefixes

__all__ = ["bleu_aggregation", "process_results_de", "process_results_fr", "process_results_ro"]

TRANSLATION_STOP = ("\n", "Translate")


def _scorer(target_language):
    """process_results for English -> `target_language` (a key of doc["translation"])."""

    def process_results(doc, results):
        pair = (cut_at_prefixes(results[0], TRANSLATION_STOP), doc["translation"][target_language])
        return {"bleu": pair, "score": pair}

    return process_results


process_results_de = _scorer("de")
process_results_ro = _scorer("ro")
process_results_fr = _scorer("fr")
