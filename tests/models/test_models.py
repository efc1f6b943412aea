"""Model specs and the one load/generate API, on tiny decoder-only and encoder-decoder models."""

import pytest
import torch

from promot_bench.errors import UsageError
from promot_bench.models import specs


def test_resolve_kinds(tmp_path, tiny_llama_dir):
    assert specs.resolve(None).kind == "embedded"
    assert specs.resolve("smollm2-135m").name == "smollm2-135m"
    hub = specs.resolve("google/mt5-xxl")
    assert (hub.kind, hub.name) == ("hub", "google--mt5-xxl")
    local = specs.resolve(str(tiny_llama_dir))
    assert local.kind == "local" and local.path == tiny_llama_dir.resolve()
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"")
    assert specs.resolve(str(gguf)).kind == "gguf"


@pytest.mark.parametrize("text", ["", "a b c", "/no/such/dir", "x.gguf", "a/b/c"])
def test_resolve_refuses(text):
    with pytest.raises(UsageError):
        specs.resolve(text)


@pytest.mark.parametrize("fixture", ["tiny_llama_dir", "tiny_t5_dir"])
def test_load_and_generate_both_architectures(fixture, request):
    loaded = specs.load(specs.resolve(str(request.getfixturevalue(fixture))))
    assert loaded.is_encoder_decoder == (fixture == "tiny_t5_dir")
    prompts = [
        "Q: What is the capital of France? A:",
        "Translate English to French: United Kingdom",
    ]
    outputs = specs.generate(loaded, prompts, max_new_tokens=5, batch_size=2)
    assert len(outputs) == 2 and all(isinstance(o, str) for o in outputs)
    # Padding must not change the answer: a batch equals each prompt generated alone.
    alone = [specs.generate(loaded, [p], max_new_tokens=5)[0] for p in prompts]
    assert outputs == alone


def test_generation_strips_the_prompt(tiny_llama_dir):
    loaded = specs.load(specs.resolve(str(tiny_llama_dir)))
    prompt = "Q: What is the capital of France? A:"
    batch = loaded.tokenizer([prompt], return_tensors="pt")
    with torch.no_grad():
        full = loaded.model.generate(
            **batch, max_new_tokens=4, do_sample=False, pad_token_id=loaded.tokenizer.pad_token_id
        )
    expected = loaded.tokenizer.decode(
        full[0, batch["input_ids"].shape[1] :], skip_special_tokens=True
    )
    assert specs.generate(loaded, [prompt], max_new_tokens=4) == [expected]
