"""Translation of ISO names (countries, currencies, languages, scripts) from pycountry's
gettext catalogs: `en-fr`, `en-de`, `en-ro`."""

from __future__ import annotations

import gettext
import random
import re
import unicodedata
from typing import Sequence

from promot_bench.tasks.mini.builders.common import Reserved, norm, shuffled, task_rng
from promot_bench.tasks.mini.builders.qa import per_entity
from promot_bench.tasks.mini.builders.settings import TARGET_TASKS, Splits


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
