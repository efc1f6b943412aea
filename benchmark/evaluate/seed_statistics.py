"""Seed-level statistics: what a claim about a *tuner* rests on.

A tuner is a procedure; one trained model is one draw of it (its seed). So whenever a number is
about a tuner across seeds — a cell's seed mean of Δ in-context mean, a tuner against `ft`, a
dose point, a frontier point — the unit is the seed: one value per seed (for a comparison, the
per-seed paired difference on the same seed and items), a t interval with n − 1 degrees of
freedom, its two-sided p value, the minimum detectable effect at those degrees of freedom
(noncentral t: 80% power at 5% two-sided, about 5.7 SE at three seeds against the large-sample
2.8), the achieved power for the observed difference, and the seeds a stated effect needs. Each
seed's value carries its own item noise, so the seed-to-seed spread already holds both.

Stars in a table come from these tests only, Holm-corrected over every test in that table
(`holm`): the chance of any false star in a table stays at or below 5%.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import integrate, optimize, stats

ALPHA = 0.05
POWER = 0.80


def power(effect: float, sd: float, n: int, alpha: float = ALPHA) -> float:
    """The chance that a two-sided one-sample t test on `n` seeds rejects at level `alpha` when
    the true mean difference is `effect` and the seed SD is `sd` (both tails counted)."""
    if n < 2 or not sd > 0:
        return float("nan")
    df, nc = n - 1, abs(effect) / (sd / math.sqrt(n))
    critical = stats.t.ppf(1 - alpha / 2, df)

    # The noncentral t's tails, integrated over the chi-square of the SD estimate: scipy's
    # `nct` returns NaN for one degree of freedom and large noncentrality (two seeds).
    def rejects(v: float) -> float:
        scale = critical * math.sqrt(v / df)
        return (stats.norm.cdf(nc - scale) + stats.norm.cdf(-nc - scale)) * stats.chi2.pdf(v, df)

    bounds = stats.chi2.ppf([1e-12, 1 - 1e-12], df)  # where the chi-square has its mass
    return float(integrate.quad(rejects, *bounds, limit=200)[0])


def mde(se: float, n: int, target: float = POWER, alpha: float = ALPHA) -> float | None:
    """The smallest true difference that n seeds with this standard error of the mean detect with
    probability `target`: the noncentrality at which the t test's power is `target`, × se."""
    if n < 2 or se is None or not se > 0:
        return None
    sd = se * math.sqrt(n)
    nc = optimize.brentq(lambda c: power(c * se, sd, n, alpha) - target, 0.0, 40.0)
    return float(nc * se)


def seeds_needed(
    effect: float, sd: float, target: float = POWER, alpha: float = ALPHA, cap: int = 1000
) -> int | None:
    """The fewest seeds (at least 2) whose t test reaches `target` power for `effect` at this
    seed SD; None when even `cap` seeds do not."""
    if not sd > 0:
        return 2
    if power(effect, sd, cap, alpha) < target:
        return None
    low, high = 1, cap  # power grows with n: bisect for the first n that reaches the target
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if power(effect, sd, middle, alpha) >= target else (middle, high)
    return high


@dataclass(frozen=True)
class SeedTest:
    """One seed-level test of per-seed values against 0 (`seed_test`)."""

    n: int
    mean: float
    sd: float | None
    se: float | None
    low: float | None  # 95% t interval, n − 1 degrees of freedom
    high: float | None
    p: float | None  # two-sided

    @property
    def df(self) -> int:
        return self.n - 1

    @functools.cached_property
    def mde(self) -> float | None:
        """The smallest true difference these seeds detect with 80% power at this SE."""
        return mde(self.se, self.n) if self.se else None

    @functools.cached_property
    def power(self) -> float | None:
        """The power of this test for the observed mean, at the observed seed SD."""
        return power(self.mean, self.sd, self.n) if self.sd else None

    def seeds_for(self, effect: float, target: float = POWER, cap: int = 1000) -> int | None:
        """Seeds needed for `target` power at `effect`, given this test's seed SD."""
        return None if self.sd is None else seeds_needed(effect, self.sd, target, cap=cap)

    def to_dict(self) -> dict:
        fields = ("n", "df", "mean", "sd", "se", "low", "high", "p", "mde", "power")
        return {k: getattr(self, k) for k in fields}


def seed_test(values, alpha: float = ALPHA) -> SeedTest:
    """The t test of the seed mean of `values` against 0. With one seed there is no spread to
    test against: only the mean is given."""
    x = np.asarray(list(values), dtype=float)
    n = len(x)
    if n == 0:
        raise ValueError("a seed-level test needs at least one seed")
    mean = float(x.mean())
    if n < 2:
        return SeedTest(1, mean, None, None, None, None, None)
    sd = float(x.std(ddof=1))
    se = sd / math.sqrt(n)
    if se == 0.0:  # every seed agrees exactly: no spread, nothing to scale a t statistic by
        return SeedTest(n, mean, 0.0, 0.0, mean, mean, 1.0 if mean == 0.0 else 0.0)
    half = float(stats.t.ppf(1 - alpha / 2, n - 1) * se)
    p = float(2 * stats.t.sf(abs(mean) / se, n - 1))
    return SeedTest(n, mean, sd, se, mean - half, mean + half, p)


def paired_differences(ours: dict, theirs: dict) -> dict:
    """seed -> our value − theirs, for the seeds both have (the same seed, items and batches)."""
    return {seed: ours[seed] - theirs[seed] for seed in sorted(ours) if seed in theirs}


def holm(pvalues: list[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p values, in the given order (None stays None and is not
    counted among the comparisons)."""
    present = [(p, i) for i, p in enumerate(pvalues) if p is not None]
    m = len(present)
    adjusted: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(present)):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def star(adjusted: float | None, alpha: float = ALPHA) -> str:
    """'*' for an (already adjusted) p value below `alpha`."""
    return "*" if adjusted is not None and adjusted < alpha else ""


def stars(pvalues: list[float | None], alpha: float = ALPHA) -> list[str]:
    """'*' where the Holm-adjusted p value is below `alpha`, over all the given tests."""
    return [star(p, alpha) for p in holm(pvalues)]
