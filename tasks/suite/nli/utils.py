"""NLI tasks (CB, WiC, RTE, SNLI): verbalizers and first-word scoring.

Each dataset's integer label maps to the word the study's prompt asks for; the tuples
are indexed by the dataset's label ids. A generation is correct when its first word
names the gold label (see `first_word_label`); anything else, "Paris" included, is wrong.
"""

from promot_bench.tasks.metrics import classification_scores

CB_LABELS = ("True", "False", "Neither")  # entailment, contradiction, neutral
WIC_LABELS = ("False", "True")  # 0: different senses, 1: same sense
RTE_LABELS = ("True", "False")  # entailment, not_entailment
SNLI_LABELS = ("True", "Neither", "False")  # entailment, neutral, contradiction


def _verbalized(labels):
    """doc_to_target and process_results for one label set."""

    def doc_to_target(doc):
        return labels[doc["label"]]

    def process_results(doc, results):
        return classification_scores(results[0], labels, labels[doc["label"]])

    return doc_to_target, process_results


cb_target, cb_process_results = _verbalized(CB_LABELS)
wic_target, wic_process_results = _verbalized(WIC_LABELS)
rte_target, rte_process_results = _verbalized(RTE_LABELS)
snli_target, snli_process_results = _verbalized(SNLI_LABELS)


def drop_unlabelled(dataset):
    """SNLI marks pairs without annotator consensus with label -1: not scorable."""
    return dataset.filter(lambda doc: doc["label"] != -1)
