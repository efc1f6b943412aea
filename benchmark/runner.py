"""`promot-bench run`: one cell row of the in-context retention matrix.

1. the pretrained model on the eval suite (and on the target, 0-shot) - cached by content key;
2. the tuner fits the target's training split (checkpoints, keep-best on its validation split);
3. the target's test split with what the tuner attaches; the eval suite on the weights alone;
4. one result JSON (+ per-item JSONL) written atomically, and the row printed.

Every step keeps its output in the run's work folder until the result file is written, so an
interrupted run started again redoes nothing that had finished.

Under `accelerate launch` (or `torchrun`) every process runs these steps: the evaluations are
data-parallel and training is DDP or FSDP (benchmark/distributed.py). The main process alone
reads and writes files; whether a step is already done is its decision, sent to the others.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import config, distributed, evaluation, export, models, pipeline, provenance, targets
from .cache import atomic_write_text, cache_dir, check_manifest, locked, read_manifest, write_entry
from .config import DEFAULT_PRESET, budget_label, load_preset
from .errors import RunError, UsageError, choices_text
from .progress import say
from .tasks import MAX_SHOTS

SCHEMA_VERSION = 2  # 2: several targets (target_tasks, training, per-target prompts)
# Fields added since without a bump, optional to every reader (older results lack them):
# `mde`, `collapse` and `collapse_format`, `se` in each delta_ci entry, `gold_logprob` and
# `eval_batch_size`.
CACHE_FORMAT = 5  # bump when what a cached evaluation holds changes (5: gold_logprob's cached pass)


@dataclass(frozen=True)
class Suite:
    key: str
    folder: str  # inside tasks/
    groups: dict  # shots -> lm-eval group
    targets: dict  # user's name -> lm-eval task
    builders: tuple = ()  # modules whose ensure_built() makes the suite's offline data

    def ensure_built(self) -> list[Path]:
        """Build (or find cached) each builder's offline data; their folders, in builder order."""
        import importlib

        return [importlib.import_module(m).ensure_built() for m in self.builders]


MINI_BUILDERS = ("promot_bench.tasks.mini.build",)
SUITES = {
    # v2 (tasks/mini/README.md): probes chosen by the probe gate; targets with no probe entity in
    # them: reading about invented names, and v1's en-fr names less those naming a probe string
    "mini": Suite("mini", "mini", {1: "promot_mini_v2", 4: "promot_mini_v2_4shot"},
                  {"nli": "promot_mini_v2_nli", "en-fr": "promot_mini_v2_en_fr"},
                  MINI_BUILDERS + ("promot_bench.tasks.mini.mapping.build", "promot_bench.tasks.mini.reading.build",
                                   "promot_bench.tasks.mini.translation.build")),
    # v1: the default until v2; most of its probes sit at chance or floor (its card, tasks/mini/README.md)
    "mini-v1": Suite("mini-v1", "mini", {1: "promot_mini", 4: "promot_mini_4shot"},
                     {"nli": "promot_mini_nli", "en-fr": "promot_mini_en_fr"}, MINI_BUILDERS),
    "paper": Suite("paper", "suite", {1: "promot_suite", 4: "promot_suite_4shot"},
                   {"rte": "promot_rte", "wmt14-en-fr": "promot_wmt14_en_fr", "snli": "promot_snli",
                    "openbookqa": "promot_openbookqa"}),
}


MULTI, THEN = "+", "-then-"  # --train nli+en-fr (multi-task), --train nli-then-en-fr (sequential)
JOINERS = {"multi": MULTI, "sequential": THEN}


def parse_train(text: str) -> tuple[str, list[str]]:
    """(mode, target names) of a --train value."""
    if MULTI in text and THEN in text:
        raise UsageError(f"--train '{text}' mixes '+' (multi-task) and '{THEN}' (sequential): use one of them")
    mode, names = ("multi", text.split(MULTI)) if MULTI in text else \
        ("sequential", text.split(THEN)) if THEN in text else ("single", [text])
    if any(not name.strip() for name in names):
        raise UsageError(f"--train '{text}' has an empty target name")
    if len(set(names)) != len(names):
        raise UsageError(f"--train '{text}' names a target twice")
    return mode, names


def resolve_target(name: str, suite: Suite, finder) -> str:
    """A --train name -> an lm-eval task: the suite's own targets by their short names, else any
    lm-eval task (ours, the user's --include-path, or lm-eval's own), checked to be trainable."""
    if name in suite.targets:
        return suite.targets[name]
    others = {t: k for k, s in SUITES.items() if k != suite.key for t in s.targets}
    if name in others:  # e.g. `rte` under --suite mini: the study's RTE, not lm-eval's GLUE copy
        raise UsageError(f"target '{name}' is not in the {suite.key} suite (it is in --suite {others[name]}): "
                         f"choose from {choices_text(suite.targets)}, or any lm-eval task")
    task = finder(name, f"target '{name}' is neither a {suite.key} suite target ({choices_text(suite.targets)}) "
                        f"nor an lm-eval task", load=True)
    targets.training_examples(task)  # refuses (one line) a task with no usable training split
    return name


@dataclass
class RunOptions:
    tuner: str
    train: str
    model: str | None = None
    suite: str = "mini"
    shots: int = 1
    seed: int = 0
    preset: str = DEFAULT_PRESET
    steps: int | None = None
    limit: int | None = None
    out: Path = Path("results")
    overrides: dict = field(default_factory=dict)
    argv: list[str] | None = None
    eval_tasks: str | None = None  # comma-separated lm-eval tasks/groups in place of the suite's group
    include_path: list[Path] = field(default_factory=list)  # folders of the user's own task YAMLs
    save_model: bool = False  # keep the tuned weights (and any adapter) as transformers / PEFT folders


@dataclass
class Plan:
    """Everything a run needs, checked before anything is loaded or written."""
    options: RunOptions
    spec: models.ModelSpec
    suite: Suite
    eval_tasks: list[str]  # what lm-eval evaluates before and after: the suite's group, or --eval-tasks
    targets: list[str]  # lm-eval task names, in training order
    cfg: object
    mode: str = "single"  # or "multi" (mixed batches) or "sequential" (one target after another)
    eval_shots: int | None = None  # None: the suite's group fixes its shots; else num_fewshot for lm-eval
    lm_eval_defaults: bool = False  # some task is one of lm-eval's own (index them too)
    budget: str | None = None  # config.budget_label: None for the preset's own training budget

    @property
    def group(self) -> str:
        """The eval set's name: the suite's group, or the --eval-tasks list joined."""
        return ",".join(self.eval_tasks)

    @property
    def eval_key(self) -> str:
        """The results folder level for the eval set: the suite, or the --eval-tasks (shortened)."""
        if self.eval_shots is None:
            return self.suite.key
        import hashlib
        import re

        name = re.sub(r"[^A-Za-z0-9_.+-]", "_", "+".join(self.eval_tasks))
        if len(name) > 60:
            name = f"{name[:40]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
        return f"tasks-{name}-{self.eval_shots}shot"

    @property
    def target(self) -> str:
        """The target as one name: the task itself, or the targets joined as in --train."""
        return JOINERS.get(self.mode, "").join(self.targets)

    @property
    def variant(self) -> str | None:
        """The cell's folder below its tuner's: a preset other than the default, a budget other
        than the preset's own (None for the default preset at its own budget)."""
        return config.variant(self.options.preset, self.budget)

    @property
    def folder(self) -> Path:
        o = self.options
        folder = o.out / "runs" / self.spec.name / self.eval_key / o.train / o.tuner
        return folder / self.variant if self.variant else folder

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
    mode, names = parse_train(options.train)
    if mode == "multi" and not TUNERS[options.tuner].multi_task:
        raise UsageError(f"tuner '{options.tuner}' cannot train on several targets at once: "
                         f"choose from {choices_text([n for n, t in TUNERS.items() if t.multi_task])}")
    check_eval_options(options, suite)
    distributed.launch_kind()  # refuses an unsupported launcher before anything runs
    finder = TaskFinder(options.include_path)
    target_tasks = [resolve_target(name, suite, finder) for name in names]
    eval_tasks, eval_shots = resolve_eval_tasks(options, suite, finder)
    cfg = load_preset(options.preset, budget_overrides(options))
    budget = budget_label(cfg, load_preset(options.preset, {"seed": options.seed}))
    spec = models.resolve(options.model)
    return Plan(options, spec, suite, eval_tasks, target_tasks, cfg, mode, eval_shots, len(finder.managers) > 1,
                budget)


def budget_overrides(options: RunOptions) -> dict:
    """The --set overrides, the seed, and --steps: a dose budget, every stage that long and
    its final weights kept (keep-best, the preset's own rule, would hide what later steps do),
    unless --set keep_best says otherwise."""
    overrides = {**options.overrides, "seed": options.seed}
    if options.steps is not None:
        overrides = {"keep_best": "false", **overrides, "steps": options.steps, "prompt_steps": options.steps,
                     "lora_steps": options.steps}
    return overrides



def check_eval_options(options: RunOptions, suite: Suite) -> None:
    """The evaluation side of the options: shots, limit, task folders, the output folder."""
    if options.eval_tasks is None and options.shots not in suite.groups:
        raise UsageError(f"--shots {options.shots}: choose from {choices_text(suite.groups)}")
    if not 0 <= options.shots <= MAX_SHOTS:
        raise UsageError(f"--shots must be between 0 and {MAX_SHOTS}, got {options.shots}")
    if options.limit is not None and options.limit < 1:
        raise UsageError(f"--limit must be a positive integer, got {options.limit}")
    for folder in options.include_path:
        if not Path(folder).is_dir():
            raise UsageError(f"--include-path {folder} is not a folder")
    check_writable(options.out)


def resolve_eval_tasks(options: RunOptions, suite: Suite, finder) -> tuple[list[str], int | None]:
    """(what lm-eval evaluates, num_fewshot for it): the suite's group at its own shots, or the
    --eval-tasks, each checked to exist, at --shots."""
    if options.eval_tasks is None:
        return [suite.groups[options.shots]], None
    eval_tasks = [t.strip() for t in options.eval_tasks.split(",")]
    if not options.eval_tasks.strip() or not all(eval_tasks) or len(set(eval_tasks)) != len(eval_tasks):
        raise UsageError(f"--eval-tasks expects a comma-separated list of distinct task names, "
                         f"got '{options.eval_tasks}'")
    for name in eval_tasks:
        finder(name, f"--eval-tasks: '{name}' is not an lm-eval task or group")
    return eval_tasks, options.shots


def eval_plan(options: RunOptions) -> Plan:
    """A plan that only evaluates the pretrained model on the eval set (no tuner, no target):
    what `promot-bench probes` runs, through the same checks and baseline cache as `run`."""
    if options.suite not in SUITES:
        raise UsageError(f"unknown suite '{options.suite}': choose from {choices_text(SUITES)}")
    suite = SUITES[options.suite]
    check_eval_options(options, suite)
    distributed.launch_kind()
    finder = TaskFinder(options.include_path)
    eval_tasks, eval_shots = resolve_eval_tasks(options, suite, finder)
    spec = models.resolve(options.model)
    return Plan(options, spec, suite, eval_tasks, [], None, "single", eval_shots, len(finder.managers) > 1)


class TaskFinder:
    """Looks task names up: first among ours and --include-path (fast), then among lm-eval's
    own tasks (indexing those takes about 20 s, so only when a name is not found)."""

    def __init__(self, include_path: list[Path]):
        self.include_path = list(include_path)
        self.managers = [evaluation.task_manager(self.include_path)]

    def manager_for(self, name: str):
        """The first task manager that knows `name`, or None."""
        for defaults in (False, True):
            if defaults and len(self.managers) == 1:
                self.managers.append(evaluation.task_manager(self.include_path, defaults=True))
            manager = self.managers[-1] if defaults else self.managers[0]
            if name in manager.all_tasks:
                return manager
        return None

    def __call__(self, name: str, problem: str, load: bool = False):
        """Refuses an unknown name with `problem`; `load` returns the (single) task."""
        manager = self.manager_for(name)
        if manager is not None:
            return targets.load_task(name, manager) if load else manager
        close = sorted(n for n in self.managers[-1].all_tasks if name.lower() in n.lower())[:5]
        raise UsageError(f"{problem}" + (f" (similar: {', '.join(close)})" if close else "")
                         + ("; add --include-path DIR for your own YAMLs" if not self.include_path else ""))



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
    """The offline suite's built-data hash (of each builder's data, joined when several); the
    paper suite's data is named by its YAMLs."""
    import hashlib

    hashes = [read_manifest(folder)["data_hash"] for folder in suite.ensure_built()]
    if not hashes:
        return None
    return hashes[0] if len(hashes) == 1 else hashlib.sha256("|".join(hashes).encode()).hexdigest()


def suite_version(p: Plan) -> str:
    """A hash of the YAMLs and code that define the evaluation: the suite's folder, and the
    user's --include-path folders (with their local data files) where given."""
    import hashlib

    parts = [provenance.hash_tree(evaluation.tasks_dir() / p.suite.folder)]
    parts += [provenance.hash_tree(Path(folder), ("*",)) for folder in p.options.include_path]
    if p.lm_eval_defaults:  # lm-eval's own tasks: their definitions come with its version
        parts.append(provenance.package_versions().get("lm_eval", ""))
    return parts[0] if len(parts) == 1 else hashlib.sha256("|".join(parts).encode()).hexdigest()


def cached_evaluation(key_parts: dict, compute) -> dict | None:
    """`compute()` once per content key; the result is kept in the cache and shared by runs.
    (None on a data-parallel helper process, which takes part in `compute` only.)"""
    import hashlib

    key = hashlib.sha256(json.dumps(key_parts, sort_keys=True).encode()).hexdigest()[:16]
    folder = cache_dir() / "baselines" / key
    main = distributed.is_main()
    # Under the lock, so runs sharing a baseline compute it once (the others wait, then read it).
    with locked(folder) if main else contextlib.nullcontext():
        # A small file: its sha256 is checked on every use.
        if not distributed.main_decides(lambda: check_manifest(folder, full=True) is None):
            scores = compute()

            def build(tmp: Path) -> dict:
                atomic_write_text(tmp / "scores.json", json.dumps({"key": key_parts, "scores": scores}))
                return {"key": key_parts}

            if main:
                write_entry(folder, build)
    return json.loads((folder / "scores.json").read_text())["scores"] if main else None


def baseline_key(p: Plan, loaded) -> dict:
    """The content key of the pretrained model's cached evaluations (less the tasks and shots)."""
    o = p.options
    return {"model": model_identity(loaded.path), "suite": p.eval_key, "suite_version": suite_version(p),
            "data_hash": data_hash(p.suite), "seed": o.seed, "limit": o.limit, "schema": SCHEMA_VERSION,
            "cache_format": CACHE_FORMAT, "batch_size": evaluation.BATCH_SIZE}


def evaluate_json(loaded, manager, seed: int, model, names: list[str], **kw) -> dict | None:
    """`evaluation.evaluate` as the cache stores it (None on a data-parallel helper process)."""
    scores = evaluation.evaluate(model, loaded.tokenizer, names, manager=manager, seed=seed, **kw)
    return None if scores is None else scores_to_json(scores)


def pretrained_scores(p: Plan, loaded, manager, key: dict | None = None) -> dict | None:
    """The pretrained model's scores on the plan's eval set (a run's "before"), computed once
    per content key and shared by every run and probe card with that key."""
    key = baseline_key(p, loaded) if key is None else key
    return cached_evaluation({**key, "tasks": p.group, "shots": p.options.shots},
                             lambda: evaluate_json(loaded, manager, p.options.seed, loaded.model, p.eval_tasks,
                                                   limit=p.options.limit, num_fewshot=p.eval_shots,
                                                   gold_logprob=True))


def scores_to_json(scores: dict) -> dict:
    return {name: {"metric": s.metric, "score": s.value, "stderr": s.stderr, "n": s.n,
                   "aggregation": s.aggregation, "higher_is_better": s.higher_is_better,
                   "gold_logprob": s.gold_logprob, "samples": s.samples}
            for name, s in scores.items()}


# --- the run -------------------------------------------------------------------------------

def stage(work: Path, name: str, compute, timings: dict) -> dict | None:
    """Run `compute()` unless this stage finished earlier; keep its JSON in the work folder.
    (None on a data-parallel helper process, which takes part in `compute` only.)"""
    path = work / f"{name}.json"
    saved = distributed.main_decides(lambda: saved_stage(path))
    if saved is not None:
        timings[name] = saved["seconds"]
        return saved["value"] if distributed.is_main() else None
    started = time.perf_counter()
    value = compute()
    timings[name] = round(time.perf_counter() - started, 2)
    if distributed.is_main():
        atomic_write_text(path, json.dumps({"seconds": timings[name], "value": value}))
    return value


def saved_stage(path: Path) -> dict | None:
    """A finished stage's saved JSON, or None (a damaged one is removed: recomputed)."""
    if not path.is_file():
        return None
    try:
        saved = json.loads(path.read_text())
        return {"seconds": saved["seconds"], "value": saved["value"]}
    except (ValueError, KeyError):
        path.unlink()
        return None


def execute(p: Plan, progress: bool = True) -> dict | None:
    """Run the cell, or read its finished result; None on a data-parallel helper process."""
    distributed.init_group()
    main = distributed.is_main()
    # One invocation per cell at a time: a second one waits, then finds the finished result.
    with locked(lock_path(p.result_path)) if main else contextlib.nullcontext():
        if distributed.main_decides(p.result_path.is_file):
            return same_settings(read_result(p.result_path), p) if main else None
        if main:
            remove_stale_temporaries(p.folder)
        return _execute(p, progress and main)


def lock_path(path: Path) -> Path:
    """A lock for `path` kept in the cache, so results/ holds nothing but results."""
    import hashlib

    return cache_dir() / "locks" / hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:24]


def _execute(p: Plan, progress: bool) -> dict | None:
    o = p.options
    provenance.code_identity()  # the code this run starts with is the code it records
    main = distributed.is_main()
    started = time.perf_counter()
    timings: dict = {}
    t0 = time.perf_counter()
    loaded = models.load(p.spec)  # before anything is written: a model that cannot load leaves no trace
    manager = evaluation.task_manager(o.include_path, defaults=p.lm_eval_defaults)
    timings["load"] = round(time.perf_counter() - t0, 2)
    note = say if progress else (lambda text: None)
    note(f"{o.tuner} on {o.train} ({p.spec.name}, {p.group}, {o.shots}-shot, seed {o.seed}"
         f"{', ' + p.variant if p.variant else ''}): model loaded in {timings['load']:.0f} s")
    p.work.mkdir(parents=True, exist_ok=True)
    refusal = distributed.main_decides(lambda: claim_work(p.work))
    if refusal:
        raise RunError(refusal)
    key = baseline_key(p, loaded)

    def evaluate(model, names, **kw):  # None on a helper process
        return evaluate_json(loaded, manager, o.seed, model, names, **kw)

    def evaluate_one(model, name, **kw):
        scores = evaluate(model, [name], **kw)
        return None if scores is None else scores[name]

    t0 = time.perf_counter()
    note(f"before: the pretrained model on {len(p.eval_tasks)} eval task(s) and the target (cached after the first run)")
    before = pretrained_scores(p, loaded, manager, key)
    # Targets are scored 0-shot, as in the study, whatever their YAML's num_fewshot says.
    # (Cached as {task: scores}, the entry format earlier versions wrote.)
    targets_before = {t: cached_evaluation({**key, "tasks": t, "shots": 0},
                                           lambda t=t: evaluate(loaded.model, [t], num_fewshot=0))
                      for t in p.targets}
    timings["before"] = round(time.perf_counter() - t0, 2)
    note(f"before: done in {timings['before']:.0f} s; training")

    pristine = weights_hash(loaded.model) if main else None
    t0 = time.perf_counter()
    tuned, attached = fit(p, loaded, manager, progress)
    timings["train"] = round(time.perf_counter() - t0, 2)
    note(f"train: done in {timings['train']:.0f} s; scoring the target with what the tuner attaches")
    saving = p.work / "save"  # the adapters now: stripping unloads lora-then-ft's
    if o.save_model and main:
        shutil.rmtree(saving, ignore_errors=True)
        export.save_adapters(saving / "peft", tuned, attached)
    # The targets first: lora-then-ft's adapter is still attached; stripping removes it.
    target = stage(p.work, "target", lambda: {t: evaluate_one(
        tuned.model, t, soft_prompt=attached[t][0], prefix=attached[t][1], num_fewshot=0)
        for t in p.targets}, timings)
    note("after: the eval tasks on the weights alone")
    stripped = tuned.stripped()
    # A tuner that leaves every weight bit-identical (pt) gives back the pretrained model:
    # its evaluation is the cached baseline, so it is reused rather than recomputed.
    unchanged = distributed.main_decides(lambda: weights_hash(stripped) == pristine)
    after = before if unchanged else stage(p.work, "after", lambda: evaluate(
        stripped, p.eval_tasks, limit=o.limit, num_fewshot=p.eval_shots, gold_logprob=True), timings)
    if not main:
        return None  # the main process has everyone's scores and writes the result
    note(f"after: done in {timings.get('after', 0):.0f} s" + (" (weights unchanged: the baseline reused)" if unchanged else ""))
    targets_before = {t: scores[t] for t, scores in targets_before.items()}

    training = {t: targets.training_examples(targets.load_task(t, manager)) for t in p.targets}
    fmt = target_format_of(training)
    prompt_files = {t: prompt_path(p, t) for t in p.targets if attached[t][0] is not None}
    for t, path in prompt_files.items():
        attached[t][0].save(path)
    result = assemble(p, before, after, targets_before, target, tuned, attached, timings, key, fmt,
                      {t: len(examples) for t, examples in training.items()})
    result["timings"]["total"] = round(time.perf_counter() - started, 2)
    if o.save_model:
        export.save_model(saving / "model", stripped, loaded.tokenizer)
        result["saved"] = export.place(saving, p.folder, o.seed)
    write_samples(p, before, after, targets_before, target)
    atomic_write_text(p.result_path, json.dumps(result, indent=1))
    shutil.rmtree(p.work, ignore_errors=True)  # checkpoints are large; the result is complete
    return result


WORK_IDENTITY = "code.json"


def work_identity() -> dict:
    """What a work folder's stages must share to be joined into one result: the code (its
    source hash) and the libraries' versions."""
    return {"source_sha256": provenance.code_identity()["source_sha256"], "versions": provenance.package_versions()}


def claim_work(work: Path) -> str | None:
    """Mark a new work folder with this process's code identity, or check a resumed one's:
    a one-line refusal where it was started by other code or libraries (its stages would be
    mixed with ours in one result), else None."""
    path = work / WORK_IDENTITY
    ours = work_identity()
    if not path.is_file():
        started = [f.name for f in work.iterdir() if not f.name.startswith(".")]
        if started:  # stages written by a version that did not record its identity
            return (f"{work} holds an unfinished run whose code is not recorded ({', '.join(sorted(started)[:3])}): "
                    "delete the folder to restart the cell")
        atomic_write_text(path, json.dumps(ours, indent=1))
        return None
    try:
        theirs = json.loads(path.read_text())
    except ValueError:
        return f"{path} is damaged: delete {work} to restart the cell"
    if theirs.get("source_sha256") != ours["source_sha256"]:
        return (f"{work} was started by other code (source {str(theirs.get('source_sha256'))[:12]}, this is "
                f"{ours['source_sha256'][:12]}): resuming would mix two versions in one result; finish it with "
                "that code, or delete the folder to restart")
    changed = sorted(k for k in ours["versions"] if (theirs.get("versions") or {}).get(k) != ours["versions"][k])
    if changed:
        name = changed[0]
        return (f"{work} was started with other libraries ({name} {theirs.get('versions', {}).get(name)}, this is "
                f"{ours['versions'][name]}): finish it with those, or delete the folder to restart")
    return None


def remove_stale_temporaries(folder: Path) -> None:
    """Temporary files a killed run left beside its results (".<name>.<random>.tmp"): never
    read, but not left lying around either."""
    if folder.is_dir():
        for stale in folder.glob(".*.tmp"):
            stale.unlink(missing_ok=True)


def read_result(path: Path) -> dict:
    """A finished cell's result; one written by us is complete (atomic writes), so a damaged one
    was changed from outside: refused, never silently recomputed over."""
    try:
        result = json.loads(path.read_text())
        _ = result["target"], result["before"], result["after"]
        return result
    except (ValueError, KeyError, TypeError) as exc:
        raise RunError(f"result file {path} is damaged ({type(exc).__name__}): delete it to rerun this cell") from None


def same_settings(result: dict, p: Plan) -> dict:
    """A finished result, refused (one line) when it was trained with other settings than the
    plan's: a different --set would otherwise get the old cell's numbers back silently."""
    theirs, ours = result.get("config") or {}, p.cfg.to_dict()
    differ = sorted(k for k in theirs.keys() & ours.keys() if theirs[k] != ours[k])
    if differ:
        shown = ", ".join(f"{k} {theirs[k]} there, {ours[k]} here" for k in differ[:3])
        raise UsageError(f"{p.result_path} holds this cell trained with other settings ({shown}): "
                         "use another --out, or delete it to rerun")
    return result


def budget_record(p: Plan, reports: list, train_sizes: dict) -> dict:
    """What the cell trained on: per stage, steps and examples (global batch: batch_size x
    grad_accum, split over processes), the step whose weights were kept, and epochs of each
    target's training split (targets trained together share one shuffled pool)."""
    batch = p.cfg.batch_size * p.cfg.grad_accum
    stages = []
    for r in reports:
        # sequential stages are named "<target>/<stage>" and train on that target alone
        own = r.name.split("/", 1)[0] if p.mode == "sequential" else None
        pool = train_sizes[own] if own else sum(train_sizes.values())
        kept = r.best_step if p.cfg.keep_best and r.best_step else r.steps
        stages.append({"name": r.name, "steps": r.steps, "examples": r.steps * batch, "kept_step": kept,
                       "epochs": {t: round(r.steps * batch / pool, 4) for t in ([own] if own else p.targets)}})
    return {"label": p.budget, "keep_best": p.cfg.keep_best, "batch": batch, "train_examples": train_sizes,
            "examples_per_stage": max((s["examples"] for s in stages), default=0), "stages": stages}


def fit(p: Plan, loaded, manager, progress: bool):
    """Train the tuner on the plan's targets; returns the final `Tuned` and, per target, what
    its evaluation attaches: (soft prompt or None, text prefix)."""
    from .soft_prompt import for_task

    o = p.options
    tasks = [targets.load_task(t, manager) for t in p.targets]
    if p.mode != "sequential":
        tuned = pipeline.fit(loaded, o.tuner, tasks if p.mode == "multi" else tasks[0], p.cfg,
                             p.work / "train", manager, progress)
        return tuned, {t: (for_task(tuned.soft_prompt, t), tuned.prefix) for t in p.targets}
    # Sequential: the same tuner on each target in turn, each continuing from the weights the
    # previous one left (its adapter, if any, removed); each target keeps its own prompt.
    model, attached, reports = loaded.model, {}, []
    for number, (name, task) in enumerate(zip(p.targets, tasks), 1):
        tuned = pipeline.fit(loaded, o.tuner, task, p.cfg, p.work / "train" / f"{number}-{name}", manager,
                             progress, model=model)
        attached[name] = (tuned.soft_prompt, tuned.prefix)
        reports += [replace(r, name=f"{name}/{r.name}") for r in tuned.reports]
        model = tuned.stripped()
    tuned.reports = reports
    return tuned, attached


def prompt_path(p: Plan, target: str) -> Path:
    """Where a target's soft prompt is saved (one file per target when there are several)."""
    if len(p.targets) == 1:
        return p.folder / f"seed{p.options.seed}.prompt.safetensors"
    return p.folder / f"seed{p.options.seed}.prompt.{target}.safetensors"


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
    if o.save_model:
        parts += ["--save-model"]
    if o.eval_tasks is not None:
        parts += ["--eval-tasks", o.eval_tasks]
    for folder in o.include_path:
        parts += ["--include-path", str(folder)]
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


def tensor_hash(tensor) -> str:
    import hashlib

    values = tensor.detach().cpu().contiguous()
    return hashlib.sha256(str(tuple(values.shape)).encode() + values.numpy().tobytes()).hexdigest()


def summary(scores: dict) -> dict:
    return {name: {k: v for k, v in s.items() if k != "samples"} for name, s in scores.items()}


def mean(scores: dict) -> float:
    return sum(s["score"] for s in scores.values()) / len(scores)


def target_summary(p: Plan, targets_before: dict, target: dict, attached: dict) -> dict:
    """Per target: pretrained and tuned scores and what was attached; `target` (one target's
    entry, or for several the mean of their scores) is what tables show."""
    per_target = {t: {"pretrained": summary({t: targets_before[t]})[t], "tuned": summary({t: target[t]})[t],
                      "attached": {"soft_prompt": attached[t][0] is not None, "prefix": attached[t][1]}}
                  for t in p.targets}
    if len(p.targets) == 1:
        return per_target[p.targets[0]]
    return {"pretrained": {"score": sum(targets_before[t]["score"] for t in p.targets) / len(p.targets),
                           "metric": "mean of the targets' scores"},
            "tuned": {"score": sum(target[t]["score"] for t in p.targets) / len(p.targets), "stderr": None,
                      "metric": "mean of the targets' scores"},
            "per_target": per_target}


def target_format_of(training: dict):
    """What the targets' answers look like (labels or a language), from their training examples
    (target -> examples): diagnose's rule, over all targets' examples together as diagnose takes them."""
    from .formats import target_format

    return target_format([ex for examples in training.values() for ex in examples])


def assemble(p: Plan, before, after, targets_before, target, tuned, attached, timings, key: dict, fmt,
             train_sizes: dict) -> dict:
    """The result file's content; `key` is the baseline's content key (identities computed once);
    `fmt` the targets' format (None: no collapse rate); `train_sizes` each target's training
    examples (for the budget's epochs)."""
    o = p.options
    from . import gold_logprob
    from .flips import flips
    from .formats import TargetFormat, collapse
    from .statistics import item_values, mde, paired_bootstrap

    fmt = fmt or TargetFormat()

    delta = {name: after[name]["score"] - before[name]["score"] for name in before}
    paired = {name: (before[name]["aggregation"], item_values(before[name]["samples"]),
                     item_values(after[name]["samples"])) for name in before}
    # paired bootstrap (1,000 resamples of the items) of after - before, per task and for the mean
    delta_ci = paired_bootstrap(paired, iters=1000, seed=o.seed)
    return {
        "schema_version": SCHEMA_VERSION,
        **provenance.header(run_command(o), o.argv),
        "training_processes": distributed.world_size(),
        "training_parallel": distributed.launch_kind(),
        "model": {"spec": p.spec.text, "name": p.spec.name, "identity": key["model"]},
        "suite": p.suite.key, "eval_group": p.group, "shots": o.shots, "seed": o.seed, "limit": o.limit,
        "eval_batch_size": key["batch_size"],
        "train": o.train, "training": p.mode, "target_task": p.target, "target_tasks": p.targets,
        "tuner": o.tuner, "preset": o.preset,
        "config": p.cfg.to_dict(),
        "budget": budget_record(p, tuned.reports, train_sizes),
        "data_hash": key["data_hash"], "suite_version": key["suite_version"],
        "timings": timings,
        "stages": [r.to_dict() for r in tuned.reports],
        "target": target_summary(p, targets_before, target, attached),
        "before": summary(before), "after": summary(after), "delta": delta,
        "mean": {"before": mean(before), "after": mean(after), "delta": mean(after) - mean(before)},
        "delta_ci": delta_ci,
        # 2.8 x the SE of Δ mean (sd of delta_ci's bootstrap draws): 80% power at 5% two-sided
        "mde": mde(delta_ci["mean"]["se"]),
        # percent of outputs (0-100) in the targets' format, per probe and mean, with the same resamples
        "collapse": collapse(before, after, fmt, seed=o.seed),
        "collapse_format": {"labels": list(fmt.labels), "language": fmt.language, "rule": fmt.describe(),
                            "scale": "percent of outputs, 0-100"},
        # the gold answer's mean per-token log-prob (nats) under each generative probe's prompt
        "gold_logprob": gold_logprob.summary(before, after, seed=o.seed),
        # per probe: items right before and wrong after (lost), the reverse (gained), with examples
        "flips": flips(before, after),
        "weights_sha256": weights_hash(tuned.stripped()),
        "after_is_baseline": after is before,  # the weights were unchanged, so the baseline was reused
        # of the prompt's values (the safetensors header orders its metadata differently per write)
        "soft_prompt_sha256": {t: tensor_hash(attached[t][0].weight) for t in p.targets if attached[t][0] is not None}
        or None,
        "samples": p.samples_path.name,
    }


def write_samples(p: Plan, before, after, targets_before, target) -> None:
    lines = []
    for phase, scores in (("before", before), ("after", after),
                          ("target_pretrained", targets_before), ("target_tuned", target)):
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
             f"{'eval task':<28} {'before':>7} {'after':>7} {'delta':>7}  {'95% interval':<18}  in format"]
    collapsed = result.get("collapse") or {}  # absent from older results
    for name, b in result["before"].items():
        a = result["after"][name]["score"]
        lines.append(f"{name:<28} {b['score']:7.2f} {a:7.2f} {a - b['score']:+7.2f}  "
                     f"{interval(result['delta_ci'][name]):<18}  {format_share(collapsed.get(name))}")
    m = result["mean"]
    lines.append(f"{'mean':<28} {m['before']:7.2f} {m['after']:7.2f} {m['delta']:+7.2f}  "
                 f"{interval(result['delta_ci']['mean']):<18}  {format_share(collapsed.get('mean'))}")
    mde = result.get("mde")
    lines.append(f"mde (Δ mean, 80% power): {'–' if mde is None else f'{mde:.2f}'}")
    gold = (result.get("gold_logprob") or {}).get("mean")  # absent from older results
    if gold:
        lines.append(f"gold log-prob per token (generative probes' mean): {gold['before']:.3f} -> "
                     f"{gold['after']:.3f} {gold['delta']:+.3f}  {interval(gold['ci'])}")
    total = (result.get("flips") or {}).get("total")  # absent from older results
    if total:
        lines.append(f"items flipped (all probes): {total['lost']} lost, {total['gained']} gained, "
                     f"{total['unchanged']} unchanged of {total['n']}")
    rule = (result.get("collapse_format") or {}).get("rule") if collapsed else None
    lines.append("[95% paired bootstrap interval of the delta; * = it excludes 0; in format: "
                 + (f"% of outputs in the target's format ({rule}), before→after; * = the change's interval "
                    "excludes 0]" if rule else "not measured (older result, or a target without labels or language)]"))
    return "\n".join(lines)


def saved_line(result: dict, p: Plan) -> str:
    """Where --save-model kept the model, or why it did not (the cell had finished without it)."""
    if result.get("saved"):
        return "saved: " + export.describe(result["saved"]) + f" in {p.folder}"
    return (f"note: {p.result_path} finished earlier without --save-model, so its weights were not kept; "
            f"`promot-bench export {p.result_path} --to DIR` re-derives them")


def interval(ci: dict) -> str:
    return f"[{ci['low']:+.2f}, {ci['high']:+.2f}]{' *' if ci['significant'] else ''}"


def format_share(entry: dict | None) -> str:
    """A probe's collapse rate in a printed row: "12→85 *" (percent; * = the change's interval excludes 0)."""
    if entry is None:
        return "–"
    return f"{entry['before']:.0f}→{entry['after']:.0f}{' *' if entry['ci']['significant'] else ''}"
