"""Build promot_mini v2's translation target `en-fr` (English -> French names, the study's
En-Fr): v1's `en-fr` items (`promot_bench.tasks.mini.build`: pycountry's names of countries,
currencies, languages and language families, and their French catalog entries), less every item
that shows a string a v2 probe item shows or is about, re-dealt into splits.

Probe strings (`probe_strings`): the inputs and accepted answers of the mapping probes in the v2
group (all splits), and qa_capitals' countries (as its questions name them) and capitals (all
splits). An item is left out when its English or French text contains one, as a whole word,
ignoring case (mini's `Reserved` rule; checked in tests/tasks/test_mini_translation.py). The mapping
probes are already built disjoint from v1's en-fr, so what this removes is the qa_capitals
countries and capitals: about a third of v1's items.

Partition: the remaining items grouped by entity (a name group: a country, currency or language
and its other names), keys in `task_rng(seed, "v2/en-fr")` order, dealt test first (one record
per key), then validation (one per key), then train (every record of the rest, shuffled, up to
mini's TARGET_TRAIN), as mini's `per_entity` deals any target. Files:
`<out_dir>/en-fr/<split>.jsonl`, fields `id`, `entities`, `source`, `target`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from promot_bench.tasks.mini import build as mini
from promot_bench.tasks.mini.builders import settings
from promot_bench.tasks.mini.builders.common import Reserved
from promot_bench.tasks.mini.builders.facts import load_facts
from promot_bench.tasks.mini.builders.qa import per_entity
from promot_bench.tasks.mini.builders.translation import slug, translate
from promot_bench.tasks.mini.mapping import build as mapping
from promot_bench.tasks.mini.reading import build as reading

# 2: 400 test items (settings.V2_TARGET_TEST), from a pool that adds the ISO 639-3 languages
SCHEMA_VERSION = 2
SUITE = "promot_mini_translation"
SPLITS = settings.SPLITS
TASKS = ("en-fr",)
SIZES = {
    "test": settings.V2_TARGET_TEST,
    "validation": settings.TARGET_VALIDATION,
    "train": settings.TARGET_TRAIN,
}
GROUP = (
    Path(mini.__file__).parent / "promot_mini_v2.yaml"
)  # the v2 probes whose strings are held out


def probe_strings(seed: int) -> set:
    """Every string a v2 probe item shows or is about, all splits (the module docstring)."""
    probes = {m.replace("_", "-") for m in re.findall(r"promot_mini_map_(\w+)", GROUP.read_text())}
    tasks = mapping.build_tasks(seed)
    strings = {
        s
        for task in probes
        for split in SPLITS
        for r in tasks[task][split]
        for s in [r["input"], *r["answers"]]
    }
    facts, mini_tasks = load_facts(), mini.build_tasks(seed)
    for r in (r for s in SPLITS for r in mini_tasks["qa-capitals"][s]):
        strings.update(r["answers"])
        strings.update(
            facts.phrase(k.split(":")[1]) for k in r["entities"] if k.startswith("country:")
        )
    return strings


def more_languages(seed: int, taken: set) -> list:
    """The ISO 639-3 languages v1 leaves out (it takes those with a two-letter code) whose French
    catalog entry is usable (`translate`), as en-fr records: enough name groups for 400 test
    items with validation and train beside them."""
    import pycountry

    out = []
    for lang in sorted(pycountry.languages, key=lambda lang: lang.alpha_3):
        key = f"language:{lang.alpha_3}"
        if key in taken or hasattr(lang, "alpha_2"):
            continue
        target = translate("iso639-3", lang.name, "fr")
        if target:
            out.append(
                {
                    "id": f"en-fr/{key}/{slug(lang.name)}",
                    "entities": [key],
                    "source": lang.name,
                    "target": target,
                }
            )
    return out


def build_en_fr(seed: int) -> dict:
    reserved = Reserved(probe_strings(seed))
    items: dict = {}
    v1 = [r for s in SPLITS for r in mini.build_tasks(seed)["en-fr"][s]]
    for r in v1 + more_languages(seed, {r["entities"][0] for r in v1}):
        if reserved.hit(r) is None:
            items.setdefault(r["entities"][0], []).append({**r, "id": "v2/" + r["id"]})
    return {"en-fr": per_entity("v2/en-fr", seed, items, SIZES, target=True)}


def source_versions() -> dict:
    return {**mini.source_versions(), **mapping.source_versions(), **reading.source_versions()}


def build(out_dir: Path, seed: int = 1234) -> dict:
    return mini.write_build(
        Path(out_dir), SUITE, SCHEMA_VERSION, seed, source_versions(), build_en_fr(seed), TASKS
    )


def builders() -> list[Path]:
    return [
        Path(__file__),
        *mini.builder_sources(),
        Path(mapping.__file__),
        Path(reading.__file__),
        GROUP,
    ]


def ensure_built(seed: int = 1234) -> Path:
    return mini.cached_build(SUITE, SCHEMA_VERSION, seed, source_versions, builders(), build)


if __name__ == "__main__":
    import sys

    print(
        json.dumps(
            build(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1234), indent=1
        )
    )
