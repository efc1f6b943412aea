"""The start-up hook that lets the stock lm_eval CLI see our tasks (see
benchmark/lm_eval_hook.py)."""

import subprocess
import sys
import textwrap

import pytest

from promot_bench import lm_eval_hook


def test_patch_adds_our_folder_only_when_builtins_are_indexed(monkeypatch):
    seen = []

    class FakeManager:
        def __init__(self, verbosity=None, include_path=None, include_defaults=True, metadata=None):
            seen.append((include_path, include_defaults))

    class FakeModule:
        TaskManager = FakeManager

    lm_eval_hook.patch(FakeModule)
    lm_eval_hook.patch(FakeModule)  # idempotent
    FakeManager()
    FakeManager(include_path="/mine")
    FakeManager(include_path="/mine", include_defaults=False)
    ours = lm_eval_hook.tasks_dir()
    assert seen == [([ours], True), ([ours, "/mine"], True), ("/mine", False)]


def test_installed_finder_patches_lm_eval_on_import():
    code = textwrap.dedent("""
        import sys
        from promot_bench import lm_eval_hook
        lm_eval_hook.install()
        assert "lm_eval.tasks.manager" not in sys.modules
        from lm_eval.tasks.manager import TaskManager
        print(getattr(TaskManager, "_promot_bench_patched", False))
    """)
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PATH": "", "PROMOT_BENCH_LM_EVAL_HOOK": "1"},
    )
    assert done.stdout.strip().splitlines()[-1] == "True", done.stderr


def test_opt_out():
    code = (
        "from promot_bench import lm_eval_hook; lm_eval_hook.install();"
        "from lm_eval.tasks.manager import TaskManager;"
        "print(getattr(TaskManager, '_promot_bench_patched', False))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PATH": "", "PROMOT_BENCH_LM_EVAL_HOOK": "0"},
    )
    assert done.stdout.strip().splitlines()[-1] == "False", done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["wheel", "editable"])
def test_a_regular_and_an_editable_install_both_ship_the_hook(tmp_path, kind):
    """The `.pth` that runs `install()` at start-up is in the wheel pip installs, whether
    `pip install .` (a regular wheel) or `pip install -e .` (PEP 660's editable wheel) made it;
    in an editable wheel it sorts after setuptools' own mapping `.pth`, so the package imports."""
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    hook = "build_wheel" if kind == "wheel" else "build_editable"
    code = f"from setuptools import build_meta; print(build_meta.{hook}({str(tmp_path)!r}))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    wheel = tmp_path / done.stdout.strip().splitlines()[-1]
    names = zipfile.ZipFile(wheel).namelist()
    assert "promot_bench_lm_eval.pth" in names
    line = zipfile.ZipFile(wheel).read("promot_bench_lm_eval.pth").decode()
    assert "promot_bench.lm_eval_hook" in line and "install()" in line
    mapping = [n for n in names if n.startswith("__editable__") and n.endswith(".pth")]
    assert sorted([*mapping, "promot_bench_lm_eval.pth"])[-1] == "promot_bench_lm_eval.pth"
