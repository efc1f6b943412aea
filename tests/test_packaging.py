"""What `pip install .` ships: every Python package folder of the source tree is declared in
pyproject.toml (setuptools installs only the listed ones; a missing one imports fine from the
checkout and fails after a real install)."""

from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_folder_is_declared():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {name: ROOT / path for name, path in config["package-dir"].items()}
    found = set()
    for name, folder in folders.items():
        for init in folder.rglob("__init__.py"):
            relative = init.parent.relative_to(folder)
            found.add(".".join([name, *relative.parts]))
    assert sorted(set(config["packages"])) == sorted(found)


def requirement_names(text: list[str]) -> set[str]:
    import re

    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in text}


def test_constraints_carry_no_local_version_label_and_pin_every_direct_dependency():
    """A `+cpu` label resolves only where a machine keeps that wheel; the package index serves
    none, so the README's install would fail on a user's machine."""
    lines = [
        line.split("#")[0].strip()
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if line.split("#")[0].strip()
    ]
    assert lines and all("==" in line for line in lines)
    assert [line for line in lines if "+" in line.split("==")[1]] == []
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = requirement_names(project["dependencies"])
    for extra in ("test", "build-data"):
        declared |= requirement_names(project["optional-dependencies"][extra])
    assert declared <= requirement_names(lines)


def test_the_statistics_libraries_are_declared():
    import ast

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = requirement_names(project["dependencies"])
    imported = set()
    for path in (ROOT / "benchmark").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
    assert {"numpy", "scipy"} <= imported and {"numpy", "scipy"} <= declared


@pytest.mark.slow
def test_the_wheel_carries_the_built_data_and_needs_no_data_building_package(tmp_path):
    """The offline suites run from a plain install: their data is in the wheel, and the
    packages that build it are an extra (`build-data`), not a requirement."""
    import subprocess
    import sys
    import zipfile

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-1000:]
    (wheel,) = tmp_path.glob("promot_bench-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(
        path.relative_to(ROOT / "tasks").as_posix()
        for path in (ROOT / "tasks/mini/shipped").rglob("*")
        if path.is_file()
    )
    assert shipped and all(f"promot_bench/tasks/{name}" in names for name in shipped)
    metadata = next(n for n in names if n.endswith("METADATA"))
    requires = [
        line.split(":", 1)[1].strip()
        for line in zipfile.ZipFile(wheel).read(metadata).decode().splitlines()
        if line.startswith("Requires-Dist:")
    ]
    plain = {r for r in requires if "extra ==" not in r}
    assert not [r for r in plain if r.split("=")[0].lower().startswith(("pycountry", "django"))]
    assert any("pycountry" in r and "build-data" in r for r in requires)
