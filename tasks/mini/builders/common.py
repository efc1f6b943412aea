"""Helpers every builder of the offline suites shares: seeded dealing of keys into splits,
balanced labels, text normalization, and the strings evaluation items reserve."""

from __future__ import annotations

import random
import re
import unicodedata
from typing import Callable, Iterable, Sequence

from promot_bench.tasks.mini.builders.settings import Record


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
