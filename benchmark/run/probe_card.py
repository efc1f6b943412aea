"""`promot-bench probes`: can each retention probe see forgetting at all?

From the pretrained model's outputs alone (one evaluation pass: the runner's cached baseline,
shared with `promot-bench run` on the same key), per probe: its score and stderr on the 0-100
scale, its trivial baselines scored by the task's own `process_results` and aggregation, the
headroom over the best of them in stderrs, the share of empty and off-format outputs, and the
gate (`probes.passes`). Writes <out>/probes/<model>/<suite>-<k>shot.json and a .md beside it.

Any lm-eval task gets a card: the kind, labels and source text are derived from the task's
config, documents and gold answers (`probes.kind_of`, `probes.source_field`). A task may state
them instead in its YAML, `metadata: {probe: {kind: qa, labels: [...], source: field}}`.
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path

from promot_bench import processes
from promot_bench.evaluate import evaluation, probes
from promot_bench.evaluate.statistics import AGGREGATIONS, BOOTSTRAP_ITERS, item_stderr, item_values
from promot_bench.models import specs
from promot_bench.run import baseline, runner
from promot_bench.run.options import Plan, RunOptions
from promot_bench.store import provenance
from promot_bench.store.atomic import atomic_write_text
from promot_bench.train import task_data

SCHEMA_VERSION = 1


@dataclass
class ProbeOptions:
    model: str | None = None
    suite: str = "v2"
    shots: int = 1
    limit: int | None = None
    out: Path = Path("results")
    eval_tasks: str | None = None
    include_path: list[Path] = field(default_factory=list)
    seed: int = 0
    argv: list[str] | None = None


def plan(o: ProbeOptions) -> Plan:
    """The evaluation plan, every input checked (bad input: UsageError, nothing written)."""
    return runner.eval_plan(
        RunOptions(
            tuner="",
            train="",
            model=o.model,
            suite=o.suite,
            shots=o.shots,
            seed=o.seed,
            limit=o.limit,
            out=Path(o.out),
            argv=o.argv,
            eval_tasks=o.eval_tasks,
            include_path=list(o.include_path),
        )
    )


def card_path(p: Plan) -> Path:
    """<out>/probes/<model>/<suite>-<k>shot.json, or tasks-<names>-<k>shot.json for --eval-tasks."""
    o = p.options
    stem = f"{p.suite.key}-{o.shots}shot" if p.eval_shots is None else p.eval_key
    return o.out / "probes" / p.spec.name / f"{stem}.json"


def command(p: Plan) -> str:

    o = p.options
    parts = ["promot-bench", "probes", "--shots", str(o.shots), "--out", str(o.out)]
    parts += ["--eval-tasks", o.eval_tasks] if o.eval_tasks is not None else ["--suite", o.suite]
    if o.model is not None:
        parts += ["--model", o.model]
    if o.limit is not None:
        parts += ["--limit", str(o.limit)]
    for folder in o.include_path:
        parts += ["--include-path", str(folder)]
    return " ".join(shlex.quote(part) for part in parts)


def execute(p: Plan) -> dict | None:
    """Evaluate (or read the cached evaluation), build the card, write it; None on a
    data-parallel helper process."""
    processes.init_group()
    provenance.code_identity()  # the code at the start is the code recorded
    started = time.perf_counter()
    loaded = specs.load(
        p.spec
    )  # before anything is written: a model that cannot load leaves no trace
    manager = evaluation.task_manager(p.options.include_path, defaults=p.lm_eval_defaults)
    key = baseline.baseline_key(p, loaded)
    scores = baseline.pretrained_scores(p, loaded, manager, key)
    if not processes.is_main():
        return None  # the helper processes' one exit: from here on the main process writes
    evaluated = time.perf_counter()
    rows = {
        name: probe_row(task_data.load_task(name, manager), s, seed=p.options.seed)
        for name, s in scores.items()
    }
    o = p.options
    card = {
        "schema_version": SCHEMA_VERSION,
        **provenance.header(command(p), o.argv),
        "model": {"spec": p.spec.text, "name": p.spec.name, "identity": key["model"]},
        "suite": p.suite.key if p.eval_shots is None else None,
        "eval_group": p.group,
        "shots": o.shots,
        "limit": o.limit,
        "seed": o.seed,
        "eval_batch_size": key["batch_size"],
        "data_hash": key["data_hash"],
        "suite_version": key["suite_version"],
        "gate": {
            "max_bad_rate": probes.MAX_BAD_RATE,
            "min_headroom_se": probes.MIN_HEADROOM_SE,
            "rule": "empty_rate + off_format_rate <= max_bad_rate and headroom_se >= "
            "min_headroom_se",
        },
        "probes": rows,
        "summary": probes.summary(rows),
        "timings": {
            "evaluation": round(evaluated - started, 2),
            "card": round(time.perf_counter() - evaluated, 2),
        },
    }
    path = card_path(p)
    atomic_write_text(path, json.dumps(card, indent=1, ensure_ascii=False))
    atomic_write_text(path.with_suffix(".md"), probes.markdown(card))
    return card


# --- one probe -----------------------------------------------------------------------------


def probe_row(task, s: dict, seed: int = 0) -> dict:
    """One probe's card row from its task and its cached scores (`baseline.scores_to_json`)."""
    config = task.config
    metadata = config.metadata if isinstance(config.metadata, dict) else {}
    declared = metadata.get("probe") if isinstance(metadata.get("probe"), dict) else {}
    docs = list(task.eval_docs)
    records = sorted(s["samples"], key=lambda r: r["doc_id"])
    items = [docs[r["doc_id"]] for r in records]
    golds = [task_data.gold_text(task, doc) for doc in items]
    all_golds = [task_data.gold_text(task, doc) for doc in docs]
    notes: list[str] = []
    kind = _kind(task, declared, records, all_golds, notes)
    values = item_values(records)
    scale = probes.score_scale(s["metric"], s["aggregation"], values)
    stderr, stderr_from = _stderr(s, values, seed, notes)
    multiple_choice = config.output_type == "multiple_choice"
    labels: tuple = ()
    if kind == "classification" and not multiple_choice:
        labels = tuple(declared.get("labels") or probes.label_set(all_golds) or sorted(set(golds)))
    trivial = _Trivial(task, s["metric"], kind, items, golds, labels, declared)
    baselines, fmt = _trivial_baselines(trivial, multiple_choice, notes)
    baselines = {name: value * scale for name, value in baselines.items()}
    higher = bool(s.get("higher_is_better", True))
    best = probes.best_of(baselines, higher)
    pretrained = s["score"] * scale
    stderr = None if stderr is None else stderr * scale
    room = probes.headroom(pretrained, best[1] if best else None, higher)
    room_se = probes.headroom_se(room, stderr)
    if multiple_choice:
        empty_rate = off_rate = 0.0
    else:
        empty_rate, off_rate = probes.rates([r["output"] for r in records], kind, labels, golds)
    if not higher:
        notes.append("lower is better: headroom = best trivial - pretrained")
    return {
        "kind": kind,
        "metric": s["metric"],
        "scale": scale,
        "n": s["n"],
        "pretrained": pretrained,
        "stderr": stderr,
        "stderr_from": stderr_from,
        "baselines": baselines,
        "best_trivial": best[1] if best else None,
        "best_trivial_name": best[0] if best else "none",
        "headroom": room,
        "headroom_se": room_se,
        "empty_rate": empty_rate,
        "off_format_rate": off_rate,
        "format": fmt,
        "labels": list(labels) or None,
        "passes": probes.passes(empty_rate, off_rate, room_se),
        "notes": notes,
    }


def _kind(task, declared: dict, records: list, all_golds: list, notes: list) -> str | None:
    """The probe's kind: declared in its YAML, else read from its output type, metrics and
    golds; None (with a note) when neither tells."""
    config = task.config
    metric_names = [
        m["metric"] for m in config.metric_list or [] if isinstance(m.get("metric"), str)
    ]
    corpus = any(r.get("pair") is not None for r in records)
    kind = declared.get("kind") or probes.kind_of(
        config.output_type, metric_names, all_golds, corpus
    )
    if kind in probes.KINDS:
        return kind
    notes.append(
        f"kind unknown (output type {config.output_type}, metrics "
        f"{', '.join(metric_names) or 'none'}): "
        f"no trivial baseline, gate not passed; declare metadata.probe.kind in the task's YAML"
    )
    return None


def _stderr(s: dict, values: list, seed: int, notes: list) -> tuple:
    """The score's standard error and where it came from: lm-eval's, else s/√n for a mean, else
    our bootstrap; (None, None) with a note where none can be had."""
    if s["stderr"] is not None:
        return s["stderr"], "lm-eval"
    if s["aggregation"] in AGGREGATIONS:
        source = "s/√n" if s["aggregation"] == "mean" else f"bootstrap ({BOOTSTRAP_ITERS})"
        stderr = item_stderr(values, s["aggregation"], seed)
        if stderr is not None:
            return stderr, source
    notes.append(
        f"no stderr: lm-eval gave none and aggregation '{s['aggregation']}' cannot be "
        "resampled here"
    )
    return None, None


@dataclass
class _Trivial:
    """What a probe's trivial baselines are made from: its task and metric, kind, scored items
    with their golds, label set and YAML declarations."""

    task: object
    metric: str
    kind: str | None
    items: list
    golds: list
    labels: tuple
    declared: dict


def _trivial_baselines(t: _Trivial, multiple_choice: bool, notes: list) -> tuple[dict, str]:
    """The trivial answers' scores (on the task's own scale) and the format rule; a task whose
    scoring cannot take a made-up answer says so in a note and keeps its card."""
    try:
        if multiple_choice:
            baselines = constant_choices(t.task, t.metric, t.items)
            return baselines, "a choice (scored by loglikelihood: always in format)"
        outputs = probes.trivial_outputs(t.kind, t.golds, t.labels, _sources(t, notes))
        baselines = {
            name: task_score(t.task, t.metric, t.items, outs) for name, outs in outputs.items()
        }
    except Exception as exc:
        notes.append(f"baselines could not be scored ({type(exc).__name__}: {exc})")
        return {}, "none"
    if t.labels:
        return baselines, f"first word in {{{', '.join(t.labels)}}}"
    return baselines, "at most 2 x the gold's words + 3" if t.kind else "none"


def _sources(t: _Trivial, notes: list) -> list | None:
    """A translation's or summary's source texts (the copy-the-source baseline), or None."""
    if t.kind not in ("translation", "summarization") or not t.items:
        return None
    source = t.declared.get("source") or probes.source_field(
        t.items[0], str(t.task.doc_to_text(t.items[0])), t.golds[0]
    )
    if source is None:
        notes.append("no document field of the prompt looks like the source text: no baseline")
        return None
    notes.append(f"source text: field '{source}'")
    return [probes.text_fields(doc).get(source, "") for doc in t.items]


def task_score(task, metric: str, docs: list, outputs: list[str]) -> float:
    """The task's own score of made-up outputs: its process_results per item, its aggregation."""
    values = [task.process_results(doc, [output])[metric] for doc, output in zip(docs, outputs)]
    return float(task.aggregation()[metric](values))


def constant_choices(task, metric: str, docs: list) -> dict[str, float]:
    """Multiple choice: always picking choice i, for each position i (named by its text when
    every item offers the same choices)."""
    choices = [list(task.doc_to_choice(doc)) for doc in docs]
    if not choices:
        return {}
    same = all(c == choices[0] for c in choices)
    out = {}
    for i in range(min(len(c) for c in choices)):
        picks = [[(0.0 if j == i else -1e9, j == i) for j in range(len(c))] for c in choices]
        values = [task.process_results(doc, pick)[metric] for doc, pick in zip(docs, picks)]
        out[f"constant {choices[0][i] if same else f'choice {i}'}"] = float(
            task.aggregation()[metric](values)
        )
    return out
