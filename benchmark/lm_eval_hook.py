"""Lets the stock `lm_eval` CLI find promot-bench's tasks with no extra flag.

lm-eval 0.4.13 has no released plugin mechanism for external task folders (an upstream PR
proposes an `lm_eval.tasks` entry-point group; pyproject.toml declares it already). Until one
lands, the install ships `promot_bench_lm_eval.pth`, which Python runs at start-up: it calls
`install()`, which does nothing until `lm_eval.tasks.manager` is imported and then adds our
task folder to every `TaskManager` that indexes lm-eval's built-in tasks (what the CLI does).
A TaskManager built with `include_defaults=False` is left alone.

Cost when lm_eval is not used: one tiny import and one entry on `sys.meta_path`.
Opt out: set `PROMOT_BENCH_LM_EVAL_HOOK=0`. Without the hook, pass
`--include_path "$(python -c 'import promot_bench.tasks as t; print(t.__path__[0])')"`.
"""

from __future__ import annotations

import importlib.abc
import os
import sys

TARGET = "lm_eval.tasks.manager"


def tasks_dir() -> str:
    """The installed `promot_bench.tasks` folder, found without importing lm_eval."""
    import importlib.util

    return os.path.dirname(importlib.util.find_spec("promot_bench.tasks").origin)


def patch(manager_module) -> None:
    cls = manager_module.TaskManager
    if getattr(cls, "_promot_bench_patched", False):
        return
    original = cls.__init__

    def __init__(self, verbosity=None, include_path=None, include_defaults=True, metadata=None):
        if include_defaults:
            ours = tasks_dir()
            paths = (
                []
                if include_path is None
                else (
                    list(include_path)
                    if isinstance(include_path, (list, tuple))
                    else [include_path]
                )
            )
            if ours not in [str(p) for p in paths]:
                include_path = [ours, *paths]  # the user's own folders still win on name clashes
        original(
            self,
            verbosity=verbosity,
            include_path=include_path,
            include_defaults=include_defaults,
            metadata=metadata,
        )

    cls.__init__ = __init__
    cls._promot_bench_patched = True


class _Finder(importlib.abc.MetaPathFinder):
    """Waits for lm_eval's task manager module to be imported, then patches it once."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != TARGET:
            return None
        import importlib.util

        sys.meta_path.remove(self)  # let the normal finders locate the module
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        real_exec = loader.exec_module

        def exec_module(module):
            real_exec(module)
            patch(module)

        loader.exec_module = exec_module
        return spec


def install() -> None:
    if os.environ.get("PROMOT_BENCH_LM_EVAL_HOOK", "1").lower() in ("0", "false", "no", "off"):
        return
    if TARGET in sys.modules:
        patch(sys.modules[TARGET])
    elif not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
