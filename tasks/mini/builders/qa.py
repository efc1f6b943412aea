"""Closed-book QA: `qa-capitals` and `qa-currencies`, one item per country."""

from __future__ import annotations

from typing import Sequence

from promot_bench.tasks.mini.builders.common import (
    Reserved,
    clean,
    deal,
    norm,
    shuffled,
    take,
    task_rng,
)
from promot_bench.tasks.mini.builders.facts import Facts
from promot_bench.tasks.mini.builders.settings import (
    DEMO_POOL,
    EVAL_VALIDATION,
    QA_MAX_COUNTRIES_PER_ANSWER,
    QA_TEST,
    SPLITS,
    Splits,
)


def per_entity(
    task: str,
    seed: int,
    items: dict,
    sizes: dict,
    reserved: Reserved | None = None,
    order: Sequence | None = None,
    target: bool = False,
) -> Splits:
    """Tasks whose items belong to one entity key each (QA, translation); `items` maps a key to
    its records. Deal keys (test first); validation and test take one record per key. A
    target task's train split takes every leak-free record of its keys and its size is an
    upper bound; an evaluation task's demonstration pool takes one per key, exactly."""
    rng = task_rng(seed, task)
    keys = [k for k in order if k in items] if order is not None else shuffled(items, rng)
    dealt = deal(keys, {"test": sizes["test"], "validation": sizes["validation"], "train": None})
    out = {}
    for split in SPLITS:
        every = split == "train" and target
        records = [r for k in dealt[split] for r in (items[k] if every else items[k][:1])]
        if split == "train":
            records = clean(records, reserved)
        if every:
            rng.shuffle(records)
        out[split] = take(records, sizes[split], f"{task} {split}", exact=not every)
    return out


def build_qa_capitals(facts: Facts, seed: int) -> Splits:
    """ "What is the capital of X?"; capitals that contain the country's name (or the reverse)
    are left out, being guessable by copying."""
    items = {}
    for code, c in facts.countries.items():
        if not c.capital or norm(c.name) in norm(c.capital) or norm(c.capital) in norm(c.name):
            continue
        items[f"country:{code}"] = [
            {
                "id": f"qa-capitals/{code}",
                "entities": [f"country:{code}"],
                "question": f"What is the capital of {facts.phrase(code)}?",
                "answers": list(c.capital_aliases),
            }
        ]
    sizes = {"train": DEMO_POOL, "validation": EVAL_VALIDATION, "test": QA_TEST}
    return per_entity("qa-capitals", seed, items, sizes)


def currency_answers(facts: Facts, code: str) -> list:
    """pycountry's name, the ISO code, and GeoNames' word when it names only this currency
    ("Yen" yes, "Dollar" no)."""
    country = facts.countries[code]
    answers = [facts.currency_names[country.currency], country.currency]
    sharing = {
        c.currency for c in facts.countries.values() if c.currency_word == country.currency_word
    }
    if (
        country.currency_word
        and sharing == {country.currency}
        and country.currency_word not in answers
    ):
        answers.append(country.currency_word)
    return answers


def build_qa_currencies(facts: Facts, seed: int) -> Splits:
    """ "What currency is used in X?" (WebQuestions asks such questions); at most
    QA_MAX_COUNTRIES_PER_ANSWER countries per currency, chosen at random."""
    rng = task_rng(seed, "qa-currencies/thin")
    by_currency = {}
    for code, c in sorted(facts.countries.items()):
        if c.currency in facts.currency_names:
            by_currency.setdefault(c.currency, []).append(code)
    items = {}
    for currency, codes in sorted(by_currency.items()):
        for code in shuffled(codes, rng)[:QA_MAX_COUNTRIES_PER_ANSWER]:
            items[f"country:{code}"] = [
                {
                    "id": f"qa-currencies/{code}",
                    "entities": [f"country:{code}"],
                    "question": f"What currency is used in {facts.phrase(code)}?",
                    "answers": currency_answers(facts, code),
                }
            ]
    sizes = {"train": DEMO_POOL, "validation": EVAL_VALIDATION, "test": QA_TEST}
    return per_entity("qa-currencies", seed, items, sizes)
