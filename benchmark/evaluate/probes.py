"""The probe card's arithmetic: what kind of probe a task is, its trivial baselines, its
headroom over them, the share of empty and off-format outputs, and the gate.

Pure functions on plain values (no model, no lm-eval): `probe_card.py` feeds them a task's
documents and the pretrained model's outputs, and scores the baselines' outputs with the
task's own `process_results` and aggregation, so a baseline is measured exactly as the model.

Kinds and their baselines (every one that applies is scored; `best_trivial` is the best):
  * classification (a small set of one-word labels, or multiple choice): each constant label;
  * qa (short free answers): the most frequent gold answer, said every time;
  * translation (a corpus metric such as BLEU/chrF): the source text copied;
  * summarization (ROUGE): the article's first sentence.
Anything else gets no baseline ("none") and a note; its gate is not passed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from promot_bench.tasks.metrics import first_word_label

KINDS = ("classification", "qa", "translation", "summarization")
MAX_LABELS = 10  # more distinct one-word gold answers than this is not a label set
MAX_BAD_RATE = 0.10  # the gate: empty_rate + off_format_rate at most this
MIN_HEADROOM_SE = 3.0  # the gate: headroom at least this many standard errors
CORPUS_METRICS = ("bleu", "chrf", "ter", "sacrebleu", "comet")


def label_set(golds: Sequence[str]) -> tuple[str, ...] | None:
    """The labels, when every gold answer is one word from a small set that repeats (each label
    at least twice on average); else None. Sorted, for a stable order."""
    words = [str(g).strip() for g in golds]
    if not words or any(len(w.split()) != 1 for w in words):
        return None
    labels = set(words)
    if len(labels) > MAX_LABELS or 2 * len(labels) > len(words):
        return None
    return tuple(sorted(labels))


def kind_of(
    output_type: str, metric_names: Sequence[str], golds: Sequence[str], corpus_level: bool = False
) -> str | None:
    """A probe's kind from its output type, its metrics' names and its gold answers; None when
    none fits (loglikelihood or perplexity tasks, unknown metrics)."""
    if output_type == "multiple_choice":
        return "classification"
    if output_type != "generate_until":
        return None
    if label_set(golds):
        return "classification"
    names = [str(n).lower() for n in metric_names]
    if any(n.startswith("rouge") for n in names):
        return "summarization"
    if corpus_level or any(n in CORPUS_METRICS for n in names):
        return "translation"
    if any(n in ("exact_match", "em", "f1", "acc", "accuracy") for n in names):
        return "qa"
    return None


def most_frequent(golds: Sequence[str]) -> str:
    """The most frequent gold answer (ties: the one seen first)."""
    return Counter(str(g) for g in golds).most_common(1)[0][0]


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def first_sentence(text: str) -> str:
    """The text's first sentence: up to the first line break or ., ! or ? followed by a space."""
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return _SENTENCE_END.split(lines[0], maxsplit=1)[0] if lines else ""


def text_fields(doc, prefix: str = "") -> dict[str, str]:
    """A document's string fields by dotted path
    ({"translation": {"en": ..}} -> "translation.en")."""
    out = {}
    for key, value in doc.items() if isinstance(doc, dict) else ():
        if isinstance(value, str):
            out[f"{prefix}{key}"] = value
        elif isinstance(value, dict):
            out.update(text_fields(value, f"{prefix}{key}."))
    return out


def source_field(doc, query: str, gold: str) -> str | None:
    """The document field the prompt asks about (the text to translate or summarize): the
    longest string field, by dotted path, that appears in the rendered prompt and is not the
    gold answer."""
    found = {
        path: value
        for path, value in text_fields(doc).items()
        if value.strip() and value.strip() != str(gold).strip() and value.strip() in query
    }
    return max(found, key=lambda path: len(found[path]), default=None)


def trivial_outputs(
    kind: str | None,
    golds: Sequence[str],
    labels: Sequence[str] = (),
    sources: Sequence[str] | None = None,
) -> dict[str, list[str]]:
    """Per baseline, the output it gives for each item (in item order); {} when none applies.

    `golds`: the items' gold answers; `labels`: a classification probe's label set; `sources`:
    the text each item's prompt asks to translate or summarize."""
    n = len(golds)
    if kind == "classification":
        return {f"constant {label}": [label] * n for label in labels}
    if kind == "qa" and n:
        return {"most frequent answer": [most_frequent(golds)] * n}
    if kind == "translation" and sources is not None:
        return {"copy source": list(sources)}
    if kind == "summarization" and sources is not None:
        return {"first sentence": [first_sentence(s) for s in sources]}
    return {}


def best_of(baselines: dict[str, float], higher_is_better: bool = True) -> tuple[str, float] | None:
    """The best baseline (name, score); ties go to the first listed."""
    if not baselines:
        return None
    pick = max if higher_is_better else min
    name = pick(baselines, key=lambda k: baselines[k])
    return name, baselines[name]


def headroom(
    pretrained: float, best_trivial: float | None, higher_is_better: bool = True
) -> float | None:
    """How far the pretrained model is above the best trivial baseline (in the metric's
    direction: positive is better than trivial)."""
    if best_trivial is None:
        return None
    return pretrained - best_trivial if higher_is_better else best_trivial - pretrained


def headroom_se(headroom_value: float | None, stderr: float | None) -> float | None:
    """Headroom in standard errors of the pretrained score; None without a positive stderr."""
    if headroom_value is None or not stderr or stderr <= 0:
        return None
    return headroom_value / stderr


def is_empty(output) -> bool:
    return output is None or not str(output).strip()


def longest_answer(gold) -> int:
    """Words in the longest gold answer (a list of aliases, or one string)."""
    answers = gold if isinstance(gold, (list, tuple)) else [gold]
    return max((len(str(a).split()) for a in answers), default=0)


def off_format(output, kind: str | None, labels: Sequence[str] = (), gold=None) -> bool:
    """Whether a non-empty output is outside the probe's own format: for a label set, a first
    word that names no label; for free text, more than 2 x the gold's words + 3 (a
    continuation, not an answer). Multiple choice and unknown kinds have no format to leave."""
    if is_empty(output):
        return False
    if kind == "classification" and labels:
        return first_word_label(str(output), labels) is None
    if kind in ("qa", "translation", "summarization") and gold is not None:
        return len(str(output).split()) > 2 * longest_answer(gold) + 3
    return False


def rates(
    outputs: Sequence, kind: str | None, labels: Sequence[str] = (), golds: Sequence | None = None
) -> tuple[float, float]:
    """(empty_rate, off_format_rate), as shares 0-1 of the outputs."""
    if not outputs:
        return 0.0, 0.0
    golds = golds if golds is not None else [None] * len(outputs)
    empty = sum(is_empty(o) for o in outputs)
    off = sum(off_format(o, kind, labels, g) for o, g in zip(outputs, golds))
    return empty / len(outputs), off / len(outputs)


def passes(
    empty_rate: float,
    off_format_rate: float,
    headroom_se_value: float | None,
    max_bad: float = MAX_BAD_RATE,
    min_se: float = MIN_HEADROOM_SE,
) -> bool:
    """The gate: few empty or off-format outputs, and headroom of at least `min_se` stderrs."""
    # A hair of tolerance: 0.1 is the boundary, and 0.07 + 0.03 is 0.10000000000000002.
    return (
        empty_rate + off_format_rate <= max_bad + 1e-12
        and headroom_se_value is not None
        and headroom_se_value >= min_se
    )


def score_scale(metric: str, aggregation: str, values: Sequence) -> float:
    """The factor to put a metric on the 0-100 `score` scale: 1 for `score` and corpus metrics
    (already 0-100), 100 for a per-item mean whose values all lie in 0-1 (acc, exact_match)."""
    if metric == "score" or aggregation != "mean":
        return 1.0
    numbers = [v for v in values if isinstance(v, (int, float))]
    return 100.0 if numbers and all(0.0 <= v <= 1.0 for v in numbers) else 1.0


def summary(rows: dict[str, dict]) -> dict:
    """The suite's line: headroom_mean over the probes that have one, and whether all pass."""
    headrooms = [r["headroom"] for r in rows.values() if r.get("headroom") is not None]
    passing = [name for name, r in rows.items() if r.get("passes")]
    return {
        "probes": len(rows),
        "passing": len(passing),
        "all_pass": bool(rows) and len(passing) == len(rows),
        "headroom_mean": sum(headrooms) / len(headrooms) if headrooms else None,
        "failing": [name for name in rows if name not in passing],
    }


def _number(value, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def title(card: dict) -> str:
    return f"Probe card: {card['model']['name']}, {card['eval_group']}, {card['shots']}-shot" + (
        f", {card['limit']} items per task" if card.get("limit") else ""
    )


def markdown(card: dict) -> str:
    """The card as a Markdown page: its title, then `markdown_table`."""
    return "\n".join([f"# {title(card)}", "", *markdown_table(card)]) + "\n"


def markdown_table(card: dict) -> list[str]:
    """The card's lines: the gate, one table row per probe, the suite's line, the notes."""
    s = card["summary"]
    lines = [
        f"Gate: empty + off-format ≤ {card['gate']['max_bad_rate']:.0%} and headroom ≥ "
        f"{card['gate']['min_headroom_se']:g} stderr. Scores on the 0-100 scale.",
        "",
        "| probe | kind | n | pretrained | stderr | best trivial | headroom | headroom/se | empty "
        "| off-format | passes |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for name, r in card["probes"].items():
        best = (
            "none"
            if r["best_trivial"] is None
            else f"{r['best_trivial']:.1f} ({r['best_trivial_name']})"
        )
        lines.append(
            f"| {name} | {r['kind'] or 'unknown'} | {r['n']} | {_number(r['pretrained'])} | "
            f"{_number(r['stderr'])} | {best} | {_number(r['headroom'])} | "
            f"{_number(r['headroom_se'])} | "
            f"{r['empty_rate']:.0%} | {r['off_format_rate']:.0%} | "
            f"{'yes' if r['passes'] else 'no'} |"
        )
    lines += [
        "",
        f"headroom_mean {_number(s['headroom_mean'], 2)}; {s['passing']} of {s['probes']} probes "
        "pass" + ("" if s["all_pass"] else f" (failing: {', '.join(s['failing'])})") + ".",
    ]
    notes = [
        f"- {name}: {note}" for name, r in card["probes"].items() for note in r.get("notes", [])
    ]
    return lines + (["", "Notes:", *notes] if notes else [])
