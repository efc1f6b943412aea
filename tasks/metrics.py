"""Scoring shared by every promot-bench task (the study's suite and the offline mini suite).

The reference study (ProMoT, arXiv 2211.00635) scores generations, not log-likelihoods:
classification is decided by the first output word, QA by exact match after SQuAD-style
normalization, translation by corpus BLEU, summarization by ROUGE-2 F-measure. Everything
here is offline: no metric goes through `evaluate.load` (which needs the network).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Sequence
from functools import lru_cache

import sacrebleu
from rouge_score import rouge_scorer

_PUNCTUATION = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def cut_at_prefixes(text: str, prefixes: Iterable[str]) -> str:
    """Keep the generation up to the first occurrence of any stop prefix.

    A few-shot model keeps writing the next demonstration ("... Paris\\n\\nQ: ..."); the
    study cuts the output at the next task prefix (`Q:`, `Translate`, `Article:`), and
    we also pass "\\n" where the answer is one line. Leading whitespace is the separator
    after the prompt's "A:" / "answer:", not an answer boundary, so it is skipped first.
    """
    text = text.lstrip()
    cuts = [i for i in (text.find(p) for p in prefixes if p) if i >= 0]
    return text[: min(cuts, default=len(text))].strip()


def _strip_punctuation(word: str) -> str:
    return word.strip(string.punctuation)


def first_word_label(text: str, labels: Sequence[str]) -> str | None:
    """The label named by the output's first word, or None if it names none.

    The study decides classification by the first output token; with arbitrary
    tokenizers the first whitespace word is the portable equivalent. Matching is
    case-insensitive and ignores surrounding punctuation ("True," / "(B)" count), so a
    fluent answer is credited, while an off-format answer ("Paris" to an NLI prompt) is
    scored wrong — that is the format-specialization signal the benchmark measures.
    """
    words = text.split()
    if not words:
        return None
    first = _strip_punctuation(words[0]).casefold()
    return next((label for label in labels if label.casefold() == first), None)


def normalize_answer(text: str) -> str:
    """SQuAD / TriviaQA answer normalization: lowercase, drop punctuation and articles
    (a/an/the), collapse whitespace — the official evaluation scripts' order."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, aliases: Iterable[str]) -> float:
    """1.0 if the normalized prediction equals any normalized gold alias, else 0.0."""
    predicted = normalize_answer(prediction)
    return float(any(predicted == normalize_answer(alias) for alias in aliases))


def corpus_bleu(predictions: Sequence[str], references: Sequence[str]) -> float:
    """sacrebleu corpus BLEU (0-100) with its default signature (13a tokenization,
    exponential smoothing): the standard WMT reporting setting, one reference each."""
    return sacrebleu.corpus_bleu(list(predictions), [list(references)]).score


@lru_cache(maxsize=1)
def _rouge2_scorer() -> rouge_scorer.RougeScorer:
    # No stemming: rouge-score's default, and what T5's / seqio's `rouge` metric (the
    # toolkit behind the study's mT5/T5X models) uses. The paper does not state it;
    # stemming would raise scores slightly and is English-only.
    return rouge_scorer.RougeScorer(["rouge2"], use_stemmer=False)


def rouge2_f(prediction: str, reference: str) -> float:
    """ROUGE-2 F-measure of one summary against one reference, scaled to 0-100."""
    return 100.0 * _rouge2_scorer().score(reference, prediction)["rouge2"].fmeasure


def corpus_chrf(predictions: Sequence[str], references: Sequence[str]) -> float:
    """sacrebleu corpus chrF (0-100, default signature: character 6-grams, beta 2)."""
    return sacrebleu.corpus_chrf(list(predictions), [list(references)]).score


def chrf_aggregation(items: Sequence[tuple[str, str]]) -> float:
    """lm-eval aggregation: per-item (prediction, reference) pairs -> corpus chrF."""
    predictions, references = zip(*items) if items else ((), ())
    return corpus_chrf(predictions, references)


def bleu_aggregation(items: Sequence[tuple[str, str]]) -> float:
    """lm-eval aggregation: per-item (prediction, reference) pairs -> corpus BLEU.

    BLEU is not a mean of sentence scores, so `process_results` returns the pair and
    the score is computed once over the whole test set here."""
    predictions, references = zip(*items) if items else ((), ())
    return corpus_bleu(predictions, references)


# ---------------------------------------------------------------- per-item scoring, shared
# Both suites' utils.py map their dataset's fields onto these; the stop prefixes are the
# study's post-processing (cut the output where the next demonstration would begin).

QA_STOP = ("\n", "Q:")
TRANSLATION_STOP = ("\n", "Translate")
SUMMARY_STOP = ("\n", "Article:")


def classification_scores(generation: str, labels: Sequence[str], gold: str) -> dict:
    correct = first_word_label(generation, labels) == gold
    return {"acc": float(correct), "score": 100.0 * correct}


def qa_scores(generation: str, aliases: Iterable[str]) -> dict:
    match = exact_match(cut_at_prefixes(generation, QA_STOP), aliases)
    return {"exact_match": match, "score": 100.0 * match}


def translation_pair(
    generation: str, reference: str, metrics: Sequence[str] = ("bleu", "score")
) -> dict:
    """Corpus-level metrics are aggregated later from the (prediction, reference) pairs."""
    pair = (cut_at_prefixes(generation, TRANSLATION_STOP), reference)
    return {metric: pair for metric in metrics}


def summary_scores(generation: str, reference: str) -> dict:
    rouge2 = rouge2_f(cut_at_prefixes(generation, SUMMARY_STOP), reference)
    return {"rouge2": rouge2, "score": rouge2}
