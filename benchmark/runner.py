"""`promot-bench run`: one cell row of the in-context retention matrix.

1. the pretrained model on the eval suite (and on the target, 0-shot) - cached by content key;
2. the tuner fits the target's training split (checkpoints, keep-best on its validation split);
3. the target's test split with what the tuner attaches; the eval suite on the weights alone;
4. one result JSON (+ per-item JSONL) written atomically, and the row printed.

Every step keeps its output in the run's work folder until the result file is written, so an
interrupted run started again redoes nothing that had finished.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import evaluation, models, pipeline, provenance, targets
from .cache import atomic_write_text, build_entry, cache_dir, read_manifest, sha256_file
from .config import load_preset
from .errors import UsageError, choices_text

SCHEMA_VERSION = 1
CACHE_FORMAT = 2  # bump when what a cached evaluation holds changes


@dataclass(frozen=True)
class Suite:
    key: str
    folder: str  # inside tasks/
    groups: dict  # shots -> lm-eval group
    targets: dict  # user's name -> lm-eval task


SUITES = {
    "mini": Suite("mini", "mini", {1: "promot_mini", 4: "promot_mini_4shot"},
                  {"nli": "promot_mini_nli", "en-fr": "promot_mini_en_fr"}),
    "paper": Suite("paper", "suite", {1: "promot_suite", 4: "promot_suite_4shot"},
                   {"rte": "promot_rte", "wmt14-en-fr": "promot_wmt14_en_fr", "snli": "promot_snli",
                    "openbookqa": "promot_openbookqa"}),
}


@dataclass
class RunOptions:
    tuner: str
    train: str
    model: str | None = None
    suite: str = "mini"
    shots: int = 1
    seed: int = 0
    preset: str = "cpu-small"
    steps: int | None = None
    limit: int | None = None
    out: Path = Path("results")
    overrides: dict = field(default_factory=dict)
    argv: list[str] | None = None


@dataclass
class Plan:
    """Everything a run needs, checked before anything is loaded or written."""
    options: RunOptions
    spec: models.ModelSpec
    suite: Suite
    group: str
    target: str
    cfg: object

    @property
    def folder(self) -> Path:
        o = self.options
        return o.out / "runs" / self.spec.name / self.suite.key / o.train / o.tuner

    @property
    def result_path(self) -> Path:
        return self.folder / f"seed{self.options.seed}.json"

    @property
    def samples_path(self) -> Path:
        return self.folder / f"seed{self.options.seed}.samples.jsonl"

    @property
    def work(self) -> Path:
        return self.folder / f"seed{self.options.seed}.work"


def plan(options: RunOptions) -> Plan:
    from .tuners import TUNERS

    if options.tuner not in TUNERS:
        raise UsageError(f"unknown tuner '{options.tuner}': choose from {choices_text(TUNERS)}")
    if options.suite not in SUITES:
        raise UsageError(f"unknown suite '{options.suite}': choose from {choices_text(SUITES)}")
    suite = SUITES[options.suite]
    if options.train not in suite.targets:
        others = [f"{t} (--suite {k})" for k, s in SUITES.items() if k != suite.key for t in s.targets]
        raise UsageError(f"target '{options.train}' is not in the {suite.key} suite: choose from "
                         f"{choices_text(suite.targets)}" + (f"; other suites have {choices_text(others)}" if others else ""))
    if options.shots not in suite.groups:
        raise UsageError(f"--shots {options.shots}: choose from {choices_text(suite.groups)}")
    if options.limit is not None and options.limit < 1:
        raise UsageError(f"--limit must be a positive integer, got {options.limit}")
    check_writable(options.out)
    overrides = dict(options.overrides)
    overrides["seed"] = options.seed
    if options.steps is not None:  # --steps sets every stage's length
        overrides.update(steps=options.steps, prompt_steps=options.steps, lora_steps=options.steps)
    cfg = load_preset(options.preset, overrides)
    spec = models.resolve(options.model)
    return Plan(options, spec, suite, suite.groups[options.shots], suite.targets[options.train], cfg)


def check_writable(out: Path) -> None:
    import os

    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder")
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out} is not writable")


# --- the cached "before" evaluation -------------------------------------------------------

def model_identity(path: Path) -> str:
    """A content identity of the model's weights: the cache manifest's hashes where there is
    one (embedded and converted models), else config + weight files' names, sizes and mtimes."""
    import hashlib

    manifest = read_manifest(path)
    digest = hashlib.sha256()
    if manifest and manifest.get("files"):
        digest.update(json.dumps({k: v["sha256"] for k, v in manifest["files"].items()}, sort_keys=True).encode())
        return digest.hexdigest()
    for file in sorted(path.iterdir()):
        if file.name == "config.json" or file.suffix in (".safetensors", ".bin"):
            stat = file.stat()
            digest.update(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def data_hash(suite: Suite) -> str | None:
    """The offline suite's built-data hash; the paper suite's data is named by its YAMLs."""
    if suite.key != "mini":
        return None
    from .tasks.mini.build import ensure_built

    return read_manifest(ensure_built())["data_hash"]


def suite_version(suite: Suite) -> str:
    return provenance.hash_tree(evaluation.tasks_dir() / suite.folder)


def cached_evaluation(key_parts: dict, compute) -> dict:
    """`compute()` once per content key; the result is kept in the cache and shared by runs."""
    import hashlib

    key = hashlib.sha256(json.dumps(key_parts, sort_keys=True).encode()).hexdigest()[:16]
    folder = cache_dir() / "baselines" / key

    def build(tmp: Path) -> dict:
        atomic_write_text(tmp / "scores.json", json.dumps({"key": key_parts, "scores": compute()}))
        return {"key": key_parts}

    build_entry(folder, build)
    return json.loads((folder / "scores.json").read_text())["scores"]


def scores_to_json(scores: dict) -> dict:
    return {name: {"metric": s.metric, "score": s.value, "stderr": s.stderr, "n": s.n,
                   "aggregation": s.aggregation, "samples": s.samples}
            for name, s in scores.items()}


# --- the run -------------------------------------------------------------------------------

def stage(work: Path, name: str, compute, timings: dict) -> dict:
    """Run `compute()` unless this stage finished earlier; keep its JSON in the work folder."""
    path = work / f"{name}.json"
    if path.is_file():
        try:
            saved = json.loads(path.read_text())
            timings[name] = saved["seconds"]
            return saved["value"]
        except (ValueError, KeyError):
            path.unlink()  # damaged: recompute
    started = time.perf_counter()
    value = compute()
    timings[name] = round(time.perf_counter() - started, 2)
    atomic_write_text(path, json.dumps({"seconds": timings[name], "value": value}))
    return value


def execute(p: Plan, progress: bool = True) -> dict:
    o = p.options
    if p.result_path.is_file():
        return json.loads(p.result_path.read_text())
    started = time.perf_counter()
    timings: dict = {}
    t0 = time.perf_counter()
    loaded = models.load(p.spec)  # before anything is written: a model that cannot load leaves no trace
    manager = evaluation.task_manager()
    timings["load"] = round(time.perf_counter() - t0, 2)
    p.work.mkdir(parents=True, exist_ok=True)
    key = {"model": model_identity(loaded.path), "suite": p.suite.key, "suite_version": suite_version(p.suite),
           "data_hash": data_hash(p.suite), "seed": o.seed, "limit": o.limit, "schema": SCHEMA_VERSION,
           "cache_format": CACHE_FORMAT}

    def evaluate(model, names, **kw):
        return scores_to_json(evaluation.evaluate(model, loaded.tokenizer, names, manager=manager, seed=o.seed, **kw))

    t0 = time.perf_counter()
    before = cached_evaluation({**key, "tasks": p.group, "shots": o.shots},
                               lambda: evaluate(loaded.model, [p.group], limit=o.limit))
    target_before = cached_evaluation({**key, "tasks": p.target, "shots": 0},
                                      lambda: evaluate(loaded.model, [p.target]))[p.target]
    timings["before"] = round(time.perf_counter() - t0, 2)

    task = targets.load_task(p.target, manager)
    t0 = time.perf_counter()
    tuned = pipeline.fit(loaded, o.tuner, task, p.cfg, p.work / "train", manager, progress)
    timings["train"] = round(time.perf_counter() - t0, 2)
    # The target first: lora-then-ft's adapter is still attached; stripping removes it.
    target = stage(p.work, "target", lambda: scores_to_json(evaluation.evaluate(
        tuned.model, loaded.tokenizer, [p.target], soft_prompt=tuned.soft_prompt, prefix=tuned.prefix,
        manager=manager, seed=o.seed))[p.target], timings)
    stripped = tuned.stripped()
    after = stage(p.work, "after", lambda: evaluate(stripped, [p.group], limit=o.limit), timings)

    if tuned.soft_prompt is not None:
        tuned.soft_prompt.save(p.folder / f"seed{o.seed}.prompt.safetensors")
    result = assemble(p, before, after, target_before, target, tuned, timings, key)
    result["timings"]["total"] = round(time.perf_counter() - started, 2)
    write_samples(p, before, after, target_before, target)
    atomic_write_text(p.result_path, json.dumps(result, indent=1))
    shutil.rmtree(p.work, ignore_errors=True)  # checkpoints are large; the result is complete
    return result


def run_command(o: RunOptions) -> str:
    import shlex

    parts = ["promot-bench", "run", "--tuner", o.tuner, "--train", o.train, "--suite", o.suite,
             "--shots", str(o.shots), "--seed", str(o.seed), "--preset", o.preset, "--out", str(o.out)]
    if o.model is not None:
        parts += ["--model", o.model]
    if o.steps is not None:
        parts += ["--steps", str(o.steps)]
    if o.limit is not None:
        parts += ["--limit", str(o.limit)]
    for key, value in sorted(o.overrides.items()):
        parts += ["--set", f"{key}={value}"]
    return " ".join(shlex.quote(p) for p in parts)


def weights_hash(model) -> str:
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def summary(scores: dict) -> dict:
    return {name: {k: v for k, v in s.items() if k != "samples"} for name, s in scores.items()}


def mean(scores: dict) -> float:
    return sum(s["score"] for s in scores.values()) / len(scores)


def assemble(p: Plan, before, after, target_before, target, tuned, timings, key: dict) -> dict:
    """The result file's content; `key` is the baseline's content key (identities computed once)."""
    o = p.options
    from .statistics import item_values, paired_bootstrap

    delta = {name: after[name]["score"] - before[name]["score"] for name in before}
    paired = {name: (before[name]["aggregation"], item_values(before[name]["samples"]),
                     item_values(after[name]["samples"])) for name in before}
    return {
        "schema_version": SCHEMA_VERSION,
        "command": run_command(o),  # reproduces this cell alone
        "invoked_as": provenance.command_line(o.argv),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "git_commit": provenance.git_commit(),
        "versions": provenance.package_versions(),
        "machine": provenance.machine(),
        "model": {"spec": p.spec.text, "name": p.spec.name, "identity": key["model"]},
        "suite": p.suite.key, "eval_group": p.group, "shots": o.shots, "seed": o.seed, "limit": o.limit,
        "train": o.train, "target_task": p.target, "tuner": o.tuner, "preset": o.preset,
        "config": p.cfg.to_dict(),
        "data_hash": key["data_hash"], "suite_version": key["suite_version"],
        "timings": timings,
        "stages": [r.to_dict() for r in tuned.reports],
        "target": {"pretrained": summary({p.target: target_before})[p.target],
                   "tuned": summary({p.target: target})[p.target],
                   "attached": {"soft_prompt": tuned.soft_prompt is not None, "prefix": tuned.prefix}},
        "before": summary(before), "after": summary(after), "delta": delta,
        "mean": {"before": mean(before), "after": mean(after), "delta": mean(after) - mean(before)},
        # paired bootstrap (1,000 resamples of the items) of after - before, per task and for the mean
        "delta_ci": paired_bootstrap(paired, iters=1000, seed=o.seed),
        "weights_sha256": weights_hash(tuned.stripped()),
        "soft_prompt_sha256": sha256_file(p.folder / f"seed{o.seed}.prompt.safetensors")
        if tuned.soft_prompt is not None else None,
        "samples": p.samples_path.name,
    }


def write_samples(p: Plan, before, after, target_before, target) -> None:
    lines = []
    for phase, scores in (("before", before), ("after", after),
                          ("target_pretrained", {p.target: target_before}), ("target_tuned", {p.target: target})):
        for task, s in scores.items():
            for item in s["samples"]:
                lines.append(json.dumps({"phase": phase, "task": task, **item}, ensure_ascii=False))
    atomic_write_text(p.samples_path, "\n".join(lines) + "\n")


def format_row(result: dict) -> str:
    t = result["target"]
    lines = [f"{result['tuner']} on {result['train']} ({result['model']['name']}, {result['eval_group']}, "
             f"{result['shots']}-shot, seed {result['seed']})",
             f"target {result['target_task']}: {t['tuned']['score']:.1f} "
             f"(pretrained {t['pretrained']['score']:.1f})",
             f"{'eval task':<28} {'before':>7} {'after':>7} {'delta':>7}  95% interval"]
    for name, b in result["before"].items():
        a = result["after"][name]["score"]
        ci = result["delta_ci"][name]
        lines.append(f"{name:<28} {b['score']:7.2f} {a:7.2f} {a - b['score']:+7.2f}  "
                     f"[{ci['low']:+.2f}, {ci['high']:+.2f}]{' *' if ci['significant'] else ''}")
    m, ci = result["mean"], result["delta_ci"]["mean"]
    lines.append(f"{'mean':<28} {m['before']:7.2f} {m['after']:7.2f} {m['delta']:+7.2f}  "
                 f"[{ci['low']:+.2f}, {ci['high']:+.2f}]{' *' if ci['significant'] else ''}")
    lines.append("[95% paired bootstrap interval of the delta; * = it excludes 0]")
    return "\n".join(lines)
