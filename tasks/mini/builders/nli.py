"""The `nli` (2-way, RTE-like) and `nli3` (3-way, CB-like) tasks about cities' countries and
populations."""

from __future__ import annotations

import random
from typing import Callable, Iterable, Sequence

from promot_bench.tasks.mini.builders.common import (
    Reserved,
    balanced_labels,
    clean,
    deal,
    proportional,
    shuffled,
    task_rng,
)
from promot_bench.tasks.mini.builders.facts import (
    City,
    Facts,
    apart,
    cities_by_country,
    city_keys,
    num,
)
from promot_bench.tasks.mini.builders.settings import (
    CITY_WEIGHT_CAP,
    DEMO_POOL,
    EVAL_VALIDATION,
    LABELS,
    MIN_POPULATION_RATIO,
    NLI3_TEST,
    SPLITS,
    TARGET_TEST,
    TARGET_TRAIN,
    TARGET_VALIDATION,
    Record,
    Splits,
)


def country_partition(by_country: dict, weights: dict, rng: random.Random) -> dict:
    """Deal countries into splits in proportion to the splits' item counts, weighing a country
    by its cities (up to CITY_WEIGHT_CAP, so China is not one split's only material); the
    last split takes the rest."""

    def size(code: str) -> int:
        return min(len(by_country[code]), CITY_WEIGHT_CAP)

    order = shuffled(by_country, rng)
    quotas = proportional(sum(map(size, order)), weights)
    quotas[list(quotas)[-1]] = None
    return deal(order, quotas, size)


class CityDraw:
    """Draws cities of one split at random, each at most once."""

    def __init__(self, cities: Iterable[City], rng: random.Random):
        self.rng = rng
        self.by_country = cities_by_country(cities)
        self.used = set()

    def free(self, country: str) -> list:
        return [c for c in self.by_country.get(country, []) if c.gid not in self.used]

    def countries(self, at_least: int = 1) -> list:
        return [k for k in sorted(self.by_country) if len(self.free(k)) >= at_least]

    def pick(self, country: str, unlike: Sequence[City] = ()) -> City | None:
        """A free city of `country` whose population is apart from every city in `unlike`."""
        options = [
            c for c in self.free(country) if all(apart(c.population, u.population) for u in unlike)
        ]
        if not options:
            return None
        city = self.rng.choice(options)
        self.used.add(city.gid)
        return city


def generate(labels: Sequence[str], make: Callable, what: str, tries: int = 50) -> list:
    """One record per wanted label from `make(label)`, which may fail (None) and retry."""
    out = []
    for label in labels:
        for _ in range(tries):
            record = make(label)
            if record is not None:
                out.append(record)
                break
        else:
            raise RuntimeError(f"{what}: ran out of material for label {label}")
    return out


NLI_PREMISES = (
    "{c1} is a city in {a} with a population of {p1}, and {c2} is a city in {b} with {p2} "
    "inhabitants.",
    "{C1}, in {a}, has {p1} inhabitants, while {c2}, in {b}, has a population of {p2}.",
    "With a population of {p1}, {c1} is one of the cities of {a}. {c2} is a city in {b} with {p2} "
    "inhabitants.",
)


NLI_HYPOTHESES = (
    "{city} is in {country}.",
    "{city} is a city in {country}.",
    "{city} lies in {country}.",
)


def nli_record(facts: Facts, draw: CityDraw, label: str, task: str) -> Record | None:
    """Two cities of two countries in the premise; the hypothesis places one of them in its
    own country (True) or in a third country of the same split that the premise never names
    (False)."""
    rng = draw.rng
    countries = draw.countries()
    if len(countries) < 3:
        return None
    a, b, elsewhere = rng.sample(countries, 3)
    c1 = draw.pick(a)
    c2 = c1 and draw.pick(b, unlike=[c1])
    if c2 is None:
        return None
    premise = rng.choice(NLI_PREMISES).format(
        c1=c1.name,
        C1=c1.name,
        c2=c2.name,
        a=facts.phrase(a),
        b=facts.phrase(b),
        p1=num(c1.population),
        p2=num(c2.population),
    )
    city, home = rng.choice([(c1, a), (c2, b)])
    country = facts.phrase(home if label == "True" else elsewhere)
    hypothesis = rng.choice(NLI_HYPOTHESES).format(city=city.name, country=country)
    entities = city_keys([c1, c2]) + ([] if label == "True" else [f"country:{elsewhere}"])
    return {
        "id": f"{task}/{c1.gid}+{c2.gid}",
        "entities": sorted(entities),
        "premise": premise,
        "hypothesis": hypothesis,
        "label": label,
    }


NICE_NUMBERS = tuple(m * 10**e for e in range(4, 8) for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 7.5))


def bound(population: int, above: bool, rng: random.Random) -> int:
    """A round number clearly above (or below) a population."""
    if above:
        options = [n for n in NICE_NUMBERS if n >= MIN_POPULATION_RATIO * population][:3]
    else:
        options = [n for n in NICE_NUMBERS if n * MIN_POPULATION_RATIO <= population][-3:]
    return int(rng.choice(options))


def bound_hypothesis(city: City, truth: bool, rng: random.Random) -> str:
    """ "X has more/fewer than N inhabitants", true or false for the city's population."""
    more = rng.random() < 0.5
    above = more != truth  # "more than N" is true when N lies below the population
    n = bound(city.population, above, rng)
    return f"{city.name} has {'more' if more else 'fewer'} than {num(n)} inhabitants."


def compare_hypothesis(x: City, y: City, truth: bool, rng: random.Random) -> str:
    big, small = sorted([x, y], key=lambda c: -c.population)
    if not truth:
        big, small = small, big
    if rng.random() < 0.5:
        return f"{big.name} has more inhabitants than {small.name}."
    return f"{small.name} has fewer inhabitants than {big.name}."


NLI3_PREMISES = (
    "{c1} and {c2} are cities in {a}. {c1} has {p1} inhabitants and {c2} has {p2}.",
    "In {a}, the city of {c1} has a population of {p1}, and {c2} has {p2} inhabitants.",
)


def nli3_record(facts: Facts, draw: CityDraw, label: str, task: str) -> Record | None:
    """Two cities of one country in the premise. True/False hypotheses compare them or bound
    one's population; Neither hypotheses do the same for a third city the premise never names."""
    rng = draw.rng
    countries = draw.countries(at_least=2)
    if not countries:
        return None
    a = rng.choice(countries)
    c1 = draw.pick(a)
    c2 = c1 and draw.pick(a, unlike=[c1])
    if c2 is None:
        return None
    premise = rng.choice(NLI3_PREMISES).format(
        c1=c1.name, c2=c2.name, a=facts.phrase(a), p1=num(c1.population), p2=num(c2.population)
    )
    cities = [c1, c2]
    if label == "Neither":
        homes = [a] if draw.free(a) else draw.countries()  # a third city of the same country if any
        c3 = draw.pick(rng.choice(homes), unlike=[c1, c2]) if homes else None
        if c3 is None:
            return None
        cities.append(c3)
        if rng.random() < 0.5:
            hypothesis = compare_hypothesis(rng.choice([c1, c2]), c3, rng.random() < 0.5, rng)
        else:
            hypothesis = bound_hypothesis(c3, rng.random() < 0.5, rng)
    elif rng.random() < 0.5:
        hypothesis = compare_hypothesis(c1, c2, label == "True", rng)
    else:
        hypothesis = bound_hypothesis(rng.choice([c1, c2]), label == "True", rng)
    return {
        "id": f"{task}/" + "+".join(str(c.gid) for c in cities),
        "entities": city_keys(cities),
        "premise": premise,
        "hypothesis": hypothesis,
        "label": label,
    }


def build_city_nli(
    facts: Facts,
    rng: random.Random,
    task: str,
    sizes: dict,
    make: Callable,
    labels: Sequence[str],
    reserved: Reserved | None = None,
    min_cities: int = 1,
) -> Splits:
    """Shared by nli and nli3: deal countries, then generate each split from its own cities.
    Reserved city names are removed from the train pool before drawing."""
    by_country = {k: v for k, v in cities_by_country(facts.cities).items() if len(v) >= min_cities}
    dealt = country_partition(
        by_country, {s: sizes[s] for s in ("test", "validation", "train")}, rng
    )
    out = {}
    for split in SPLITS:
        pool = [c for k in dealt[split] for c in by_country[k]]
        if split == "train" and reserved is not None:  # no reserved city or country name
            pool = [
                c
                for c in pool
                if reserved.hit({"city": c.name, "country": facts.phrase(c.country)}) is None
            ]
        draw = CityDraw(pool, rng)
        wanted = balanced_labels(sizes[split], labels, rng)
        records = generate(wanted, lambda label: make(facts, draw, label, task), f"{task} {split}")
        out[split] = clean(records, reserved if split == "train" else None)
    return out


def build_nli(facts: Facts, seed: int, reserved: Reserved) -> Splits:
    """Target task, RTE-like: exactly balanced True/False, leak-free train."""
    sizes = {"train": TARGET_TRAIN, "validation": TARGET_VALIDATION, "test": TARGET_TEST}
    return build_city_nli(
        facts, task_rng(seed, "nli"), "nli", sizes, nli_record, LABELS["nli"], reserved
    )


def build_nli3(facts: Facts, seed: int) -> Splits:
    """Evaluation task, CB-like: balanced True/False/Neither over single-country premises."""
    sizes = {"train": DEMO_POOL, "validation": EVAL_VALIDATION, "test": NLI3_TEST}
    return build_city_nli(
        facts, task_rng(seed, "nli3"), "nli3", sizes, nli3_record, LABELS["nli3"], min_cities=2
    )
