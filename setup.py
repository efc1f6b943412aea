"""Only here for what pyproject.toml alone cannot express: ship `promot_bench_lm_eval.pth` (see
benchmark/lm_eval_hook.py) at the top of site-packages, from a regular install and an editable
one (`pip install -e .`) alike, and bake the source's git commit into the built package
(`promot_bench/_build_info.json`, read by provenance.code_identity), since an installed package
cannot see the checkout it was built from. Everything else is in pyproject.toml."""

import json
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PTH = "promot_bench_lm_eval.pth"
PTH_LINE = "import promot_bench.lm_eval_hook as _pb_hook; _pb_hook.install()\n"
BUILD_INFO = "_build_info.json"
ROOT = Path(__file__).resolve().parent


def source_commit():
    """HEAD (+dirty) when this folder is itself the top of a git checkout, else None (the rule
    of promot_bench.store.provenance.git_commit, which cannot be imported before the build)."""

    def git(*args):
        done = subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=10
        )
        return done.stdout.strip() if done.returncode == 0 else None

    try:
        top = git("rev-parse", "--show-toplevel")
        if top is None or Path(top).resolve() != ROOT:
            return None
        dirty = git("status", "--porcelain", "--untracked-files=no")
        return git("rev-parse", "HEAD") + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError, TypeError):
        return None


class BuildWithPth(build_py):
    def run(self):
        super().run()
        target = Path(self.build_lib) / PTH
        target.write_text(PTH_LINE)
        info = Path(self.build_lib) / "promot_bench" / BUILD_INFO
        if info.parent.is_dir():
            info.write_text(json.dumps({"commit": source_commit()}) + "\n")

    def get_outputs(self, include_bytecode=True):
        built = Path(self.build_lib)
        return [
            *super().get_outputs(include_bytecode),
            str(built / PTH),
            str(built / "promot_bench" / BUILD_INFO),
        ]


class _WithPth:
    """An editable install's strategy (how setuptools maps the source into site-packages), plus
    the hook's `.pth` written beside its own: it sorts after `__editable__.*.pth`, so the package
    is importable when the hook's line runs."""

    def __init__(self, strategy):
        self.strategy = strategy

    def __enter__(self):
        self.strategy.__enter__()
        return self

    def __exit__(self, *exc):
        return self.strategy.__exit__(*exc)

    def __call__(self, wheel, files, mapping):
        done = self.strategy(wheel, files, mapping)
        wheel.writestr(PTH, PTH_LINE)
        return done


commands = {"build_py": BuildWithPth}
try:  # setuptools' editable installs (PEP 660): the one place that decides what the wheel holds
    from setuptools.command.editable_wheel import editable_wheel

    class EditableWithPth(editable_wheel):
        def _select_strategy(self, *args, **kwargs):
            return _WithPth(super()._select_strategy(*args, **kwargs))

    commands["editable_wheel"] = EditableWithPth
except ImportError:  # an old setuptools: no editable wheels to extend
    pass

setup(cmdclass=commands)
