"""Only here to ship `promot_bench_lm_eval.pth` (see benchmark/lm_eval_hook.py) at the top of
site-packages, which pyproject.toml alone cannot express. Everything else is in pyproject.toml."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PTH = "promot_bench_lm_eval.pth"
PTH_LINE = "import promot_bench.lm_eval_hook as _pb_hook; _pb_hook.install()\n"


class BuildWithPth(build_py):
    def run(self):
        super().run()
        target = Path(self.build_lib) / PTH
        target.write_text(PTH_LINE)

    def get_outputs(self, include_bytecode=True):
        return [*super().get_outputs(include_bytecode), str(Path(self.build_lib) / PTH)]


setup(cmdclass={"build_py": BuildWithPth})
