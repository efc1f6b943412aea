"""A prompt or scoring change bumps the task's version, so a score always says which prompt made
it: every task YAML of ours declares its own `metadata.version`, and whenever its text changes
(the version's own value aside) the version must change with it. The registry
(task_versions.json) records each YAML's text hash and version; a failure prints the entry to
write there once the version is bumped."""

import hashlib
import json
import re
from pathlib import Path

import pytest

TASKS = Path(__file__).resolve().parents[2] / "tasks"
REGISTRY = Path(__file__).with_name("task_versions.json")
VERSION = re.compile(r"(version:\s*)([0-9][0-9.]*)")


def declared(path: Path) -> tuple[str, str | None]:
    """(hash of the text with the version's value blanked, the version) of a task YAML."""
    text = path.read_text(encoding="utf-8")
    found = VERSION.search(text)
    blanked = VERSION.sub(r"\1<version>", text)
    return hashlib.sha256(blanked.encode()).hexdigest(), found.group(2) if found else None


def task_yamls() -> list[Path]:
    return sorted(p for p in TASKS.rglob("*.yaml") if "shipped" not in p.parts)


@pytest.mark.parametrize("path", task_yamls(), ids=lambda p: p.relative_to(TASKS).as_posix())
def test_a_changed_task_yaml_carries_a_new_version(path):
    name = path.relative_to(TASKS).as_posix()
    digest, version = declared(path)
    assert version is not None, f"{name} declares no metadata.version"
    entry = json.loads(REGISTRY.read_text()).get(name)
    wanted = json.dumps({name: {"sha256": digest, "version": version}})
    assert entry is not None, f"{name} is not in {REGISTRY.name}: add {wanted}"
    if entry["sha256"] != digest:
        assert version != entry["version"], (
            f"{name} changed but kept version {version}: bump it, then record {wanted}"
        )
        pytest.fail(f"{name} changed and bumped its version: record {wanted}")
    assert version == entry["version"], f"{name}'s version changed, its text did not"


def test_the_registry_lists_no_yaml_that_is_gone():
    names = {p.relative_to(TASKS).as_posix() for p in task_yamls()}
    assert set(json.loads(REGISTRY.read_text())) <= names
