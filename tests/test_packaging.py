"""What `pip install .` ships: every Python package folder of the source tree is declared in
pyproject.toml (setuptools installs only the listed ones; a missing one imports fine from the
checkout and fails after a real install)."""

from pathlib import Path

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
