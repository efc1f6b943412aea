"""The evaluation suites (`--suite`), their targets, and how a `--train` value becomes lm-eval
tasks: a suite's short target names, or any lm-eval task found by `TaskFinder`."""

from __future__ import annotations

import difflib
import functools
import importlib
from dataclasses import dataclass
from pathlib import Path

from promot_bench.errors import UsageError, choices_text
from promot_bench.evaluate import evaluation
from promot_bench.train import task_data


@dataclass(frozen=True)
class Suite:
    """A suite by its lm-eval groups (each a YAML file named after the group in tasks/<folder>/):
    the probes, 1-shot (`group`) and 4-shot (`group`_4shot), and the fine-tuning targets."""

    name: str  # what --suite takes: the offline suite's version, or `study`
    # its folder in results/runs/<model>/ and the result's `suite`: the name it had before suites
    # were named by version, so every result ever written stays where it is
    key: str
    folder: str  # inside tasks/
    group: str
    targets_group: str
    target_prefix: str  # a target's short name: its task name less this prefix, "_" as "-"
    builders: tuple = ()  # modules whose ensure_built() makes the suite's offline data

    @property
    def groups(self) -> dict[int, str]:
        """shots -> lm-eval group"""
        return {1: self.group, 4: f"{self.group}_4shot"}

    @functools.cached_property
    def targets(self) -> dict[str, str]:
        """The user's short name (`--train nli`) -> lm-eval task, from the targets group."""
        tasks = group_members(self.folder, self.targets_group)
        return {t.removeprefix(self.target_prefix).replace("_", "-"): t for t in tasks}

    def ensure_built(self) -> list[Path]:
        """Build (or find cached) each builder's offline data; their folders, in builder order."""
        return [importlib.import_module(m).ensure_built() for m in self.builders]


MINI_BUILDERS = ("promot_bench.tasks.mini.build",)


def group_members(folder: str, group: str) -> list[str]:
    """The task names a group YAML of ours lists."""
    import yaml

    config = yaml.safe_load((evaluation.tasks_dir() / folder / f"{group}.yaml").read_text())
    return [t if isinstance(t, str) else t["task"] for t in config["task"]]


SUITES = {
    # v2 (tasks/mini/README.md): probes chosen by the probe gate; targets with no probe entity in
    # them: reading about invented names, and v1's en-fr names less those naming a probe string
    "v2": Suite(
        "v2",
        "mini",
        "mini",
        "promot_mini_v2",
        "promot_mini_v2_targets",
        "promot_mini_v2_",
        MINI_BUILDERS
        + (
            "promot_bench.tasks.mini.mapping.build",
            "promot_bench.tasks.mini.reading.build",
            "promot_bench.tasks.mini.translation.build",
        ),
    ),
    # v1: the default until v2; most of its probes sit at chance or floor (its card,
    # tasks/mini/README.md)
    "v1": Suite(
        "v1",
        "mini-v1",
        "mini",
        "promot_mini",
        "promot_mini_targets",
        "promot_mini_",
        MINI_BUILDERS,
    ),
    # the study's datasets (tasks/suite/README.md)
    "study": Suite("study", "paper", "suite", "promot_suite", "promot_targets", "promot_"),
}


MULTI, THEN = "+", "-then-"  # --train nli+en-fr (multi-task), --train nli-then-en-fr (sequential)


JOINERS = {"multi": MULTI, "sequential": THEN}


def parse_train(text: str) -> tuple[str, list[str]]:
    """(mode, target names) of a --train value."""
    if MULTI in text and THEN in text:
        raise UsageError(
            f"--train '{text}' mixes '+' (multi-task) and '{THEN}' (sequential): use one of them"
        )
    mode, names = (
        ("multi", text.split(MULTI))
        if MULTI in text
        else ("sequential", text.split(THEN))
        if THEN in text
        else ("single", [text])
    )
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
    others = {t: k for k, s in SUITES.items() if k != suite.name for t in s.targets}
    if name in others:  # e.g. `rte` under --suite v2: the study's RTE, not lm-eval's GLUE copy
        raise UsageError(
            f"target '{name}' is not in the {suite.name} suite (it is in --suite {others[name]}): "
            f"choose from {choices_text(suite.targets)}, or any lm-eval task"
        )
    task = finder(
        name,
        f"target '{name}' is neither a {suite.name} suite target ({choices_text(suite.targets)}) "
        f"nor an lm-eval task",
        load=True,
    )
    task_data.training_examples(task)  # refuses (one line) a task with no usable training split
    return name


def lm_eval_task_names() -> list[str]:
    """The names of lm-eval's own tasks, groups and tags: indexing them takes about 20 s, so the
    list is kept in the cache once per lm-eval version, and a misspelt name is refused at once."""
    import json

    from promot_bench.store.atomic import atomic_write_text
    from promot_bench.store.cache import cache_dir
    from promot_bench.store.provenance import package_versions

    path = cache_dir() / f"lm-eval-tasks-{package_versions().get('lm_eval')}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        names = sorted(evaluation.task_manager(defaults=True).all_tasks)
        atomic_write_text(path, json.dumps(names))
        return names


class TaskFinder:
    """Looks task names up: first among ours and --include-path (fast), then among lm-eval's
    own tasks, whose names come from a cached list (`lm_eval_task_names`); their index (about
    20 s) is built only for a name that is there."""

    def __init__(self, include_path: list[Path]):
        self.include_path = list(include_path)
        self.managers = [evaluation.task_manager(self.include_path)]

    def manager_for(self, name: str):
        """The first task manager that knows `name`, or None."""
        if name in self.managers[0].all_tasks:
            return self.managers[0]
        if name not in lm_eval_task_names():
            return None
        if len(self.managers) == 1:
            self.managers.append(evaluation.task_manager(self.include_path, defaults=True))
        return self.managers[-1] if name in self.managers[-1].all_tasks else None

    def __call__(self, name: str, problem: str, load: bool = False):
        """Refuses an unknown name with `problem`; `load` returns the (single) task."""
        manager = self.manager_for(name)
        if manager is not None:
            return task_data.load_task(name, manager) if load else manager
        known = sorted({*self.managers[0].all_tasks, *lm_eval_task_names()})
        close = (
            difflib.get_close_matches(name, known, n=3, cutoff=0.8)
            or [n for n in known if name.lower() in n.lower()][:5]
        )
        raise UsageError(
            f"{problem}"
            + (f" (similar: {', '.join(close)})" if close else "")
            + ("; add --include-path DIR for your own YAMLs" if not self.include_path else "")
        )
