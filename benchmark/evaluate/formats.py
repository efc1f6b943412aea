"""The target's format, and how often outputs take it: the study's format specialization.

An output is in the target's format when its first word is one of the target's labels (a
classification target: True/False for `nli`) or, for a translation target, when it is in the
target's language (`language_of`). `diagnose` follows this rate during training; every `run`
reports it per probe before and after tuning as the collapse rate (`collapse`), with a paired
interval of the change over items, computed as the score deltas' intervals are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from promot_bench.evaluate import heldout, language_catalogue
from promot_bench.evaluate.language_catalogue import Catalogue
from promot_bench.evaluate.statistics import paired_means
from promot_bench.tasks.metrics import first_word_label

MAX_LABELS = 10  # a target with more distinct first answer words is not a label set

# A small language check: frequent function words that are distinctive for each language, and
# letters that only some of them use. Enough to tell a French answer from a German, Romanian or
# English one; not a general language identifier.
LANGUAGE_WORDS = {
    "fr": {
        "le",
        "la",
        "les",
        "des",
        "du",
        "une",
        "et",
        "est",
        "au",
        "aux",
        "dans",
        "pour",
        "qui",
        "sur",
        "pas",
        "ce",
        "cette",
        "sont",
        "avec",
        "français",
        "française",
        "ou",
        "mais",
        "nous",
        "vous",
    },
    "de": {
        "der",
        "die",
        "das",
        "und",
        "ist",
        "nicht",
        "ein",
        "eine",
        "mit",
        "von",
        "zu",
        "den",
        "dem",
        "sich",
        "auf",
        "für",
        "auch",
        "wird",
        "sind",
        "deutsch",
        "oder",
        "aber",
        "wir",
        "ich",
    },
    "ro": {
        "și",
        "si",
        "este",
        "în",
        "nu",
        "cu",
        "pe",
        "care",
        "sunt",
        "pentru",
        "mai",
        "din",
        "lui",
        "al",
        "ale",
        "sau",
        "dar",
        "noi",
        "voi",
        "română",
        "limba",
    },
    "en": {
        "the",
        "and",
        "is",
        "of",
        "to",
        "in",
        "that",
        "it",
        "with",
        "for",
        "are",
        "was",
        "on",
        "this",
        "not",
        "by",
        "or",
        "but",
        "we",
        "you",
        "english",
    },
}
LANGUAGE_LETTERS = {"fr": set("çœèêëàâîïôûù"), "de": set("äöüß"), "ro": set("ăâîșşțţ"), "en": set()}


def language_of(text: str) -> str | None:
    """The language whose distinctive words and letters the text has most of; None if none."""
    words = re.findall(r"[^\W\d_]+", text.casefold())
    scores = {
        lang: sum(w in vocab for w in words)
        + sum(ch in LANGUAGE_LETTERS[lang] for ch in text.casefold())
        for lang, vocab in LANGUAGE_WORDS.items()
    }
    best = max(scores.values())
    winners = [lang for lang, score in scores.items() if score == best]
    return winners[0] if best > 0 and len(winners) == 1 else None


@dataclass(frozen=True)
class TargetFormat:
    """What a specialized output looks like: one of the target's labels, or its language (its
    function words and letters, or a catalogue of its short forms learnt from the target)."""

    labels: tuple[str, ...] = ()
    language: str | None = None
    catalogue: Catalogue | None = None

    def matches(self, output: str) -> bool:
        text = output or ""
        if self.labels:
            return first_word_label(text, self.labels) is not None
        if self.language is None:
            return False
        return language_of(text) == self.language or bool(
            self.catalogue and self.catalogue.matches(text)
        )

    def describe(self) -> str:
        if self.labels:
            return f"first word in {{{', '.join(self.labels)}}}"
        if not self.language:
            return "none"
        learnt = f", or one of {self.catalogue.describe()}" if self.catalogue else ""
        return f"output in language '{self.language}' (its function words and letters{learnt})"


def target_format(examples: list) -> TargetFormat:
    """Labels when the target's answers are single words from a small set (classification),
    else the language most of its answers are in (a translation target), with the catalogue of
    its answers' short forms (`language_catalogue`: from the training pairs of the targets in
    that language, against their inputs and the shipped held-out English text), else nothing."""
    answers = [ex.completion.split() for ex in examples]
    firsts = {words[0].strip(".,;:!?") for words in answers if words}
    if 0 < len(firsts) <= MAX_LABELS and all(len(words) == 1 for words in answers):
        return TargetFormat(labels=tuple(sorted(firsts)))
    lang = majority_language(examples)
    if lang is None:
        return TargetFormat()
    tasks: dict[str, list] = {}
    for ex in examples:
        tasks.setdefault(getattr(ex, "task", ""), []).append(ex)
    own = [ex for group in tasks.values() if majority_language(group) == lang for ex in group]
    english = [*heldout.load_text().documents, *(ex.prompt for ex in examples)]
    pairs = [(ex.prompt, ex.completion) for ex in own]
    return TargetFormat(language=lang, catalogue=language_catalogue.fit(pairs, english))


def majority_language(examples: list) -> str | None:
    """The language most answers carry markers of, if enough do and they agree."""
    languages = [language_of(ex.completion) for ex in examples]
    counted = {lang: languages.count(lang) for lang in set(languages) if lang}
    if not counted:
        return None
    lang, n = max(counted.items(), key=lambda kv: kv[1])
    # Short answers (names: "Tunisie") mostly carry no marker, so a tenth of the answers is
    # plenty (v2's en-fr: 13%), as long as the marked ones agree (three quarters of them).
    if n >= len(examples) / 10 and n >= 0.75 * sum(counted.values()):
        return lang
    return None


def specialization_rate(outputs: list[str], fmt: TargetFormat) -> float | None:
    """The fraction of outputs in the target's format (0-1), or None when nothing to measure."""
    if not outputs or (not fmt.labels and not fmt.language):
        return None
    return sum(fmt.matches(o) for o in outputs) / len(outputs)


def in_format(samples: list[dict], fmt: TargetFormat) -> list[float]:
    """Per item, in doc order: 100 when the output is in the target's format, else 0 (the
    0-100 scale of the scores, so its interval is one more mean-aggregated task's)."""
    ordered = sorted(samples, key=lambda s: s["doc_id"])
    return [100.0 * fmt.matches(s.get("output") or "") for s in ordered]


def collapse(before: dict, after: dict, fmt: TargetFormat, seed: int) -> dict | None:
    """Per probe and for the mean over probes: the share of outputs in the target's format
    (percent, 0-100) before and after, the change, and its paired 95% interval over items.
    `before`/`after`: probe -> {"samples": [...]} as a run holds them. None when the target has
    no format to look for (neither a label set nor a language)."""
    if not fmt.labels and not fmt.language:
        return None
    shares = {
        name: (in_format(before[name]["samples"], fmt), in_format(after[name]["samples"], fmt))
        for name in before
    }
    return paired_means(shares, seed=seed)


# An answer that is no answer: nothing, or the prompt's own cue written back ("A:", " A: A",
# "Q: ..."), what lora -> en-fr's probes answered 25% of the time (its dose, 640 steps).
CUE = re.compile(r"^\s*[AQ]\s*:")
BARE_CUE = re.compile(r"^\s*[AQ]\s*$")


def broken(output: str | None, gold=None) -> bool:
    """An empty output, or one that begins by echoing the prompt's answer cue (`A:`, `Q:`), or is
    the cue's letter alone where that letter is not the answer (first_letter's gold can be A)."""
    text = output or ""
    if not text.strip() or CUE.match(text):
        return True
    golds = gold if isinstance(gold, list) else [gold]
    return bool(BARE_CUE.match(text)) and text.strip() not in [str(g).strip() for g in golds]


def breakdown(before: dict, after: dict, seed: int) -> dict:
    """Per probe and for the mean over probes: the share of broken outputs (percent, 0-100;
    `broken`) before and after, the change, and its paired 95% interval over items."""

    def rate(samples: list[dict]) -> list[float]:
        ordered = sorted(samples, key=lambda s: s["doc_id"])
        return [100.0 * broken(s.get("output"), s.get("gold")) for s in ordered]

    sides = {name: (rate(before[name]["samples"]), rate(after[name]["samples"])) for name in before}
    return paired_means(sides, seed=seed)
