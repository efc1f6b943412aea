"""Turn a GGUF file into a plain transformers folder (fp32 safetensors + tokenizer).

transformers can read GGUF, but de-quantizing takes tens of seconds on every load and the
loaded model refuses `save_pretrained` ("quantized with gguf"). So we de-quantize once, rebuild
the model from its config without the quantization marker, and save it; later loads are fast.
"""

from __future__ import annotations

from pathlib import Path

from promot_bench.console import say
from promot_bench.errors import UsageError


def check_gguf(path: Path) -> None:
    """Refuse a file that is not a readable GGUF (bad magic, truncated tensor data)."""
    try:
        from gguf import GGUFReader

        reader = GGUFReader(str(path))
        for tensor in reader.tensors:  # touching every tensor catches a truncated file
            _ = tensor.data.shape
    except Exception as exc:  # the reader raises assorted errors on damaged files
        raise UsageError(f"{path} is not a valid GGUF file ({type(exc).__name__}: {exc})") from None


def convert_gguf(gguf_path: Path, out_dir: Path) -> dict:
    """De-quantize `gguf_path` into `out_dir`; returns facts for the cache manifest."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    check_gguf(gguf_path)
    folder, name = str(gguf_path.parent), gguf_path.name
    say(f"promot-bench: de-quantizing {name} (once; later loads are fast)")
    config = AutoConfig.from_pretrained(folder, gguf_file=name)
    auto_cls = AutoModelForSeq2SeqLM if config.is_encoder_decoder else AutoModelForCausalLM
    quantized = auto_cls.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)

    clean = config.to_dict()
    clean.pop("quantization_config", None)
    clean.pop("_name_or_path", None)
    config = type(config).from_dict(clean)
    model = auto_cls.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(quantized.state_dict(), strict=False)
    model.tie_weights()
    # Tied output embeddings may be absent from the GGUF state dict; anything else is an error.
    missing = [k for k in missing if k != "lm_head.weight" or not config.tie_word_embeddings]
    if missing or unexpected:
        raise RuntimeError(f"GGUF conversion mismatch: missing={missing} unexpected={unexpected}")
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return {
        "source_gguf": name,
        "architecture": type(model).__name__,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
