"""What `promot-bench tasks` lists: every task and group in our task folder with its metric
and shots, read from the YAMLs alone (no dataset is loaded)."""

from __future__ import annotations

from dataclasses import dataclass


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

    from .evaluation import task_manager, tasks_dir

    manager = manager or task_manager()
    ours = tasks_dir()
    out = []
    for name, entry in sorted(manager.task_index.items()):
        if entry.yaml_path is None or ours not in entry.yaml_path.parents:
            continue
        cfg = load_yaml(entry.yaml_path, resolve_func=False)
        suite = "promot_mini" if "mini" in entry.yaml_path.relative_to(ours).parts else "promot_suite"
        if "group" in cfg:
            members = [t if isinstance(t, str) else t.get("task", "?") for t in cfg.get("task", [])]
            aggregate = ", ".join(m["metric"] for m in cfg.get("aggregate_metric_list", []))
            shots = str(cfg["num_fewshot"]) if "num_fewshot" in cfg else "per task"
            out.append(CatalogRow(name, "group", suite, f"mean {aggregate}", shots, members))
        else:
            metrics = [m["metric"] for m in cfg.get("metric_list", []) if m.get("metric") != "score"]
            out.append(CatalogRow(name, "task", suite, "/".join(metrics), str(cfg.get("num_fewshot", 0)), []))
    return out
