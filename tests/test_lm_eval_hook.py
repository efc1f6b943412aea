"""The start-up hook that lets the stock lm_eval CLI see our tasks (see
benchmark/lm_eval_hook.py)."""

import subprocess
import sys
import textwrap

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
