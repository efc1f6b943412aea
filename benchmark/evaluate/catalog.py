"""What `promot-bench tasks` lists: every task and group in our task folder with its metric
and shots, read from the YAMLs alone (no dataset is loaded)."""

from __future__ import annotations

from dataclasses import dataclass

from promot_bench.evaluate.evaluation import task_manager, tasks_dir


@dataclass
class CatalogRow:
    name: str
    kind: str  # task | group
    suite: str  # promot_suite | promot_mini
    metric: str
    shots: str
    members: list[str]


def rows(manager=None) -> list[CatalogRow]:
    from lm_eval.tasks._yaml_loader import load_yaml

    manager = manager or task_manager()
    ours = tasks_dir()
    out = []
    for name, entry in sorted(manager.task_index.items()):
        if entry.yaml_path is None or ours not in entry.yaml_path.parents:
            continue
        cfg = load_yaml(entry.yaml_path, resolve_func=False)
        suite = (
            "promot_mini" if "mini" in entry.yaml_path.relative_to(ours).parts else "promot_suite"
        )
        if "group" in cfg:
            members = [t if isinstance(t, str) else t.get("task", "?") for t in cfg.get("task", [])]
            aggregate = ", ".join(m["metric"] for m in cfg.get("aggregate_metric_list", []))
            shots = str(cfg["num_fewshot"]) if "num_fewshot" in cfg else "per task"
            out.append(CatalogRow(name, "group", suite, f"mean {aggregate}", shots, members))
        else:
            metrics = [
                m["metric"] for m in cfg.get("metric_list", []) if m.get("metric") != "score"
            ]
            out.append(
                CatalogRow(
                    name, "task", suite, "/".join(metrics), str(cfg.get("num_fewshot", 0)), []
                )
            )
    return out


@dataclass
class LoadCheck:
    name: str
    error: str | None  # one line, or None when the task built
    splits: dict  # what the task reads: {"evaluated (test)": rows, "few-shot (train)": rows}


def check(names: list[str], manager=None) -> list[LoadCheck]:
    """Build each task (groups expand to their members) as lm-eval would, one at a time, so
    that one task's missing data does not hide the others'. Loads data; scores nothing."""
    manager = manager or task_manager()
    groups = {row.name: row.members for row in rows(manager) if row.kind == "group"}
    tasks = list(dict.fromkeys(t for n in names for t in groups.get(n, [n])))
    return [_check_one(name, manager) for name in tasks]


def _check_one(name: str, manager) -> LoadCheck:
    try:
        (task,) = manager.load([name])["tasks"].values()
        splits = {f"evaluated ({_eval_split(task)})": len(task.eval_docs)}
        if task.config.fewshot_split:  # lm-eval's sampler holds the rows it draws from
            splits[f"few-shot ({task.config.fewshot_split})"] = len(task.sampler.df)
        if task.has_training_docs():
            splits[f"training ({task.config.training_split})"] = len(task.training_docs())
    except Exception as exc:  # any loader's failure is this task's result, not the command's
        lines = str(exc).strip().splitlines() or [""]
        return LoadCheck(name, f"{type(exc).__name__}: {lines[0]}", {})
    return LoadCheck(name, None, splits)


def _eval_split(task) -> str:
    return task.config.test_split or task.config.validation_split
