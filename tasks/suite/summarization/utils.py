"""Summarization (XSum, WikiLingua en): input truncation and ROUGE-2 scoring.

The study cuts summarization inputs to 1,024 tokens. A task cannot know the model's
tokenizer, so articles are cut to their first 1,024 whitespace-separated words (and
re-joined with single spaces, which also keeps each article on one prompt line). For
subword tokenizers 1,024 words is somewhat more than 1,024 tokens; the cut is the same
for every model, so before/after scores stay comparable.
"""

from promot_bench.tasks.metrics import summary_scores

MAX_ARTICLE_WORDS = 1024


def _truncate_field(field):
    """process_docs that cuts `field` to MAX_ARTICLE_WORDS words."""

    def process_docs(dataset):
        return dataset.map(lambda doc: {field: " ".join(doc[field].split()[:MAX_ARTICLE_WORDS])})

    return process_docs


def _scorer(reference_field):
    """process_results: ROUGE-2 F (0-100) of the cut generation against one reference."""

    def process_results(doc, results):
        return summary_scores(results[0], doc[reference_field])

    return process_results


truncate_xsum = _truncate_field("document")
truncate_wikilingua = _truncate_field("source")
xsum_process_results = _scorer("summary")
wikilingua_process_results = _scorer("target")
