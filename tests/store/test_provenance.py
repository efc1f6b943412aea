"""provenance.code_identity: the code a result came from, with or without a git checkout."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from promot_bench.store import provenance

ROOT = Path(__file__).resolve().parents[2]
IDENTITY = (
    "import json; from promot_bench.store import provenance; "
    "print(json.dumps(provenance.code_identity()))"
)


def test_the_running_code_records_its_commit_where_one_is_known():
    identity = provenance.code_identity()
    assert identity["version"] == "0.1.0"
    assert identity["source_sha256"] == provenance.source_sha256()
    assert (
        "run/runner.py" in provenance._source_files()
        and "tuners/ft.py" in provenance._source_files()
    )
    package = Path(provenance.__file__).resolve().parents[1]  # promot_bench's own folder
    # tox's own environment lies inside the checkout (.tox/), so test where the file is, not
    # whether the checkout contains it.
    if package == ROOT / "benchmark":  # an editable install: the code is the checkout's
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
        )
        if head.returncode != 0:
            pytest.skip("not running from a git checkout")
        assert identity["commit"].split("+")[0] == head.stdout.strip()
        assert identity["commit_from"] == "checkout"
    else:
        # installed (tox installs from an sdist, which carries no commit): what the build baked in
        baked = json.loads((package / provenance.BUILD_INFO).read_text())["commit"]
        assert identity["commit"] == baked
        assert identity["commit_from"] == ("build" if baked else None)


def _install(source: Path, target: Path) -> None:
    """pip install the source folder (no dependencies) into a plain folder."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]


def _identity(target: Path, cwd: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(target))
    done = subprocess.run(
        [sys.executable, "-c", IDENTITY],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def _source_copy(out: Path) -> Path:
    """The working tree's files (tracked, and untracked but not ignored), without .git."""
    listed = ["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard"]
    files = subprocess.run(listed, capture_output=True, text=True).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, out / name)
    return out


@pytest.mark.slow
def test_an_installed_package_outside_any_checkout_has_no_commit_and_the_same_source_hash(tmp_path):
    source = _source_copy(tmp_path / "source")
    # The install lands inside some other repository: its commit must not be recorded.
    other = tmp_path / "other-repo"
    other.mkdir()
    subprocess.run(["git", "init", "-q", str(other)], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(other),
            "-c",
            "user.name=x",
            "-c",
            "user.email=x@x",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "other",
        ],
        check=True,
    )
    target = other / "site-packages"
    _install(source, target)
    identity = _identity(target, cwd=other)
    assert identity["commit"] is None and identity["commit_from"] is None
    assert identity["version"] == "0.1.0"
    # Installed and in-checkout layouts of the same files hash alike.
    assert identity["source_sha256"] == provenance.source_sha256()

    runner = target / "promot_bench" / "run" / "runner.py"
    runner.write_text(runner.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    assert _identity(target, cwd=other)["source_sha256"] != identity["source_sha256"]


@pytest.mark.slow
def test_a_package_built_from_a_checkout_carries_its_commit(tmp_path):
    # A checkout of the working tree's files (so this tests this setup.py, committed or not).
    checkout = _source_copy(tmp_path / "checkout")
    git = ["git", "-C", str(checkout), "-c", "user.name=x", "-c", "user.email=x@x"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "snapshot"], check=True)
    head = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    target = tmp_path / "site-packages"
    _install(checkout, target)
    identity = _identity(target, cwd=tmp_path)
    assert identity["commit"] == head and identity["commit_from"] == "build"


def test_every_speed_script_json_begins_with_one_header():
    """The command (arguments quoted as a shell needs them), the code identity the runs record,
    and the CPU (timings compare only on one CPU)."""
    head = provenance.bench_header("eval", ["--out", "a b.json"])
    assert head["command"] == "python -m promot_bench.perf.eval --out 'a b.json'"
    assert (
        head["code"] == provenance.code_identity() and head["git_commit"] == head["code"]["commit"]
    )
    assert set(head) >= {"versions", "machine", "cpu", "date"}
    if Path("/proc/cpuinfo").is_file():
        assert head["cpu"] and head["cpu"] in Path("/proc/cpuinfo").read_text()
    scripts = sorted(Path(provenance.__file__).parents[1].joinpath("perf").glob("*.py"))
    # perf/gpu.py is carried to a lent GPU machine that may lack lm-eval (its docstring): it keeps
    # its own
    writes_json = [p for p in scripts if "json.dumps" in p.read_text() and p.stem != "gpu"]
    assert writes_json and all(f'bench_header("{p.stem}"' in p.read_text() for p in writes_json)
