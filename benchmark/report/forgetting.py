"""Do the field's forgetting measures track in-context retention? Per model, eval group and shots
(every tuner, target, budget, rate and dose checkpoint together), over the result files that
have the measure (one trained model each), the Pearson correlation of the file's Δ in-context
mean with its KL from the pretrained model and with its held-out cross-entropy change, with the
95% interval (Fisher's z, scipy) and p value. Descriptive: a run's dose checkpoints share its
training path, so they are not independent and the interval is optimistic."""

from __future__ import annotations

from dataclasses import dataclass

from promot_bench.report.tables import group_label, markdown_section

MEASURES = {
    "KL (pretrained ‖ tuned), probe mean": lambda r: (
        (r.get("kl") or {}).get("mean", {}).get("after")
    ),
    "held-out CE Δ": lambda r: (r.get("heldout_ce") or {}).get("delta"),
}
MIN_RESULTS = 4  # fewer: no correlation is shown (an r of three points says little)
TITLE = "Forgetting measures against in-context retention"
ABOUT = (
    __doc__.replace("\n", " ").strip()
    + f" –: fewer than {MIN_RESULTS} result files have the measure."
)
HEADER = ["models and probes", "measure", "results", "Pearson r with Δ mean", "95% interval", "p"]


@dataclass(frozen=True)
class Correlation:
    where: str
    measure: str
    n: int
    r: float | None = None
    low: float | None = None
    high: float | None = None
    p: float | None = None


def correlations(results: list[dict]) -> list[Correlation]:
    """One per (model, eval group, shots) with any result that has a measure, and measure."""
    from scipy import stats

    groups: dict = {}
    for r in results:
        where = f"{r['model']['name']} · {group_label(r)} ({r['shots']}-shot)"
        groups.setdefault(where, []).append(r)
    found = []
    for where, runs in sorted(groups.items()):
        for name, value_of in MEASURES.items():
            pairs = [(r["mean"]["delta"], value_of(r)) for r in runs if value_of(r) is not None]
            if not pairs:
                continue
            if len(pairs) < MIN_RESULTS or len({v for _, v in pairs}) < 2:
                found.append(Correlation(where, name, len(pairs)))
                continue
            test = stats.pearsonr([d for d, _ in pairs], [v for _, v in pairs])
            ci = test.confidence_interval(0.95)
            found.append(
                Correlation(where, name, len(pairs), test.statistic, ci.low, ci.high, test.pvalue)
            )
    return found


def rows(found: list[Correlation]) -> list[list[str]]:
    return [
        [c.where, c.measure, str(c.n)]
        + (
            ["–", "–", "–"]
            if c.r is None
            else [f"{c.r:+.2f}", f"[{c.low:+.2f}, {c.high:+.2f}]", f"{c.p:.3g}"]
        )
        for c in found
    ]


def markdown(found: list[Correlation]) -> list[str]:
    """The section, or nothing where no result has either measure (results before them)."""
    return markdown_section(TITLE, ABOUT, HEADER, rows(found)) if found else []
