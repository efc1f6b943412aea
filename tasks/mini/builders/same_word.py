"""`same-word` (WiC-like): does a word refer to the same currency in two sentences?"""

from __future__ import annotations

import random

from promot_bench.tasks.mini.builders.common import shuffled, take, task_rng
from promot_bench.tasks.mini.builders.facts import Facts
from promot_bench.tasks.mini.builders.settings import (
    DEMO_POOL,
    SAME_WORD_MAX_PAIRS_PER_CURRENCY,
    SAME_WORD_TEST,
    SAME_WORD_VALIDATION,
    SPLITS,
    Record,
    Splits,
)

SAME_WORD_SENTENCES = (
    "{Country} uses the {word} as its currency.",
    "In {country}, people pay with the {word}.",
    "The {word} is the money used in {country}.",
)


def currency_words(facts: Facts) -> dict:
    """word -> {ISO code -> [countries]} for the currency words that can mark both labels:
    they name two or more currencies, one of them used by two or more countries."""
    out = {}
    for code, country in sorted(facts.countries.items()):
        if country.currency and country.currency_word:
            out.setdefault(country.currency_word.lower(), {}).setdefault(
                country.currency, []
            ).append(code)
    return {
        w: codes
        for w, codes in sorted(out.items())
        if len(codes) >= 2 and any(len(ks) >= 2 for ks in codes.values())
    }


def pair_count(n: int) -> int:
    return n * (n - 1) // 2


def deal_currencies(words_codes: dict, sizes: dict, rng: random.Random) -> dict:
    """split -> countries. Same-currency pairs (the positives) are scarce and grow with the
    square of a currency's countries, so each shared currency goes whole to one split: largest
    first, to the split furthest below its positive quota. Single-country currencies (they
    only make negatives) go round-robin to the splits holding a shared currency of their word."""
    shared = {
        (w, cur): ks
        for w, codes in words_codes.items()
        for cur, ks in codes.items()
        if len(ks) >= 2
    }
    order = shuffled(shared, rng)
    order.sort(key=lambda k: -min(pair_count(len(shared[k])), SAME_WORD_MAX_PAIRS_PER_CURRENCY))
    deficit = {split: sizes[split] // 2 for split in ("test", "validation", "train")}
    dealt = {split: [] for split in SPLITS}
    holders = {}
    for word, currency in order:
        split = max(deficit, key=deficit.get)
        deficit[split] -= min(
            pair_count(len(shared[word, currency])), SAME_WORD_MAX_PAIRS_PER_CURRENCY
        )
        dealt[split].extend(shared[word, currency])
        holders.setdefault(word, []).append(split)
    for word, codes in words_codes.items():
        singles = shuffled([ks[0] for ks in codes.values() if len(ks) == 1], rng)
        targets = sorted(set(holders.get(word, SPLITS)), key=SPLITS.index)
        for i, country in enumerate(singles):
            dealt[targets[i % len(targets)]].append(country)
    return dealt


def same_word_pairs(facts: Facts, words_codes: dict, countries: set, rng: random.Random) -> dict:
    """(word, a, b) pairs within one split's countries, per label, in random order; at most
    SAME_WORD_MAX_PAIRS_PER_CURRENCY positives per currency, so no currency dominates."""
    pairs = {"True": [], "False": []}
    for word, codes in words_codes.items():
        members = sorted(k for ks in codes.values() for k in ks if k in countries)
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                same = facts.countries[a].currency == facts.countries[b].currency
                pairs["True" if same else "False"].append((word, a, b))
    capped, per_currency = [], {}
    for pair in shuffled(pairs["True"], rng):
        currency = facts.countries[pair[1]].currency
        per_currency[currency] = per_currency.get(currency, 0) + 1
        if per_currency[currency] <= SAME_WORD_MAX_PAIRS_PER_CURRENCY:
            capped.append(pair)
    return {"True": capped, "False": shuffled(pairs["False"], rng)}


def build_same_word(facts: Facts, seed: int) -> Splits:
    """Pairs of countries whose currencies share a word; True when it is the same currency.
    Each positive is matched by a negative with the same word."""
    task, rng = "same-word", task_rng(seed, "same-word")
    words_codes = currency_words(facts)
    sizes = {"test": SAME_WORD_TEST, "validation": SAME_WORD_VALIDATION, "train": DEMO_POOL}
    dealt = deal_currencies(words_codes, sizes, rng)
    out = {}
    for split in SPLITS:
        pairs = same_word_pairs(facts, words_codes, set(dealt[split]), rng)
        positives = take(pairs["True"], sizes[split] // 2, f"{task} {split} positives")
        negatives = []
        for word, _, _ in positives:  # one negative of the same word per positive
            options = [p for p in pairs["False"] if p[0] == word and p not in negatives]
            if not options:
                raise RuntimeError(f"{task} {split}: no negative pair left for {word!r}")
            negatives.append(options[0])
        items = [(p, "True") for p in positives] + [(p, "False") for p in negatives]
        rng.shuffle(items)
        out[split] = [
            same_word_record(facts, word, a, b, label, rng, task) for (word, a, b), label in items
        ]
    return out


def same_word_record(
    facts: Facts, word: str, a: str, b: str, label: str, rng: random.Random, task: str
) -> Record:
    first, second = rng.sample(range(len(SAME_WORD_SENTENCES)), 2)
    a, b = rng.sample([a, b], 2)

    def say(template: int, code: str) -> str:
        return SAME_WORD_SENTENCES[template].format(
            country=facts.phrase(code), Country=facts.phrase(code, start=True), word=word
        )

    return {
        "id": f"{task}/{'+'.join(sorted([a, b]))}",
        "entities": sorted([f"country:{a}", f"country:{b}"]),
        "sentence1": say(first, a),
        "sentence2": say(second, b),
        "word": word,
        "question": f"The word {word} refers to the same currency in the two sentences.",
        "label": label,
    }
