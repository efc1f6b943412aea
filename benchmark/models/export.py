"""The tuned model kept as standard folders (`run --save-model`), so that it can be used,
shared and re-scored without this code:

- `seed<k>.model/`: the weights the retention probes scored (soft prompt and any adapter
  removed; lora's adapter merged), with config and tokenizer: `AutoModelForCausalLM` (or
  `AutoModelForSeq2SeqLM`) `.from_pretrained` loads it;
- `seed<k>.peft/` (tuners that attach a soft prompt or an adapter at the target): a PEFT adapter
  on top of that model -- prompt tuning for a soft prompt, prefix tuning for a key/value
  prefix, LoRA for lora-then-ft's adapter -- so
  `PeftModel.from_pretrained(base, folder)` gives what the target was scored with. With several
  targets, one adapter per target in `seed<k>.peft/<target>/`. promot-1shot's text
  demonstration cannot live in a PEFT adapter: it is written to `demonstration.txt` beside it.

Each folder is written under a temporary name and renamed, and its files' sha256 go into the
result, so a saved model can be checked against the result it belongs to.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

DEMONSTRATION_FILE = "demonstration.txt"


def file_hashes(folder: Path) -> dict:
    """relative path -> sha256 of every file under `folder`."""
    hashes = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            hashes[path.relative_to(folder).as_posix()] = digest.hexdigest()
    return hashes


def replace_folder(tmp: Path, final: Path) -> None:
    """`tmp` becomes `final` (an earlier `final` is removed first: a rerun's save replaces it)."""
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)


def save_prompt_adapter(folder: Path, prompt, config, demonstration: str = "") -> None:
    """A soft prompt as PEFT's prompt-tuning adapter: its config and `prompt_embeddings`, the
    state PEFT saves and loads for prompt learning (encoder side only for seq2seq models, as
    the prompt is trained: num_transformer_submodules 1)."""
    from peft import PromptTuningConfig, TaskType
    from safetensors.torch import save_file

    seq2seq = bool(getattr(config, "is_encoder_decoder", False))
    peft_config = PromptTuningConfig(
        task_type=TaskType.SEQ_2_SEQ_LM if seq2seq else TaskType.CAUSAL_LM,
        num_virtual_tokens=prompt.length,
        token_dim=prompt.hidden_size,
        num_transformer_submodules=1,
        num_attention_heads=getattr(config, "num_attention_heads", None)
        or getattr(config, "num_heads", None),
        num_layers=getattr(config, "num_hidden_layers", None)
        or getattr(config, "num_layers", None),
    )
    folder.mkdir(parents=True, exist_ok=True)
    peft_config.save_pretrained(str(folder))
    weight = prompt.weight.detach().cpu().contiguous().clone()
    save_file({"prompt_embeddings": weight}, str(folder / "adapter_model.safetensors"))
    if demonstration:
        (folder / DEMONSTRATION_FILE).write_text(demonstration, encoding="utf-8")


def save_prefix_adapter(folder: Path, prefix) -> None:
    """A key/value prefix as PEFT's prefix-tuning adapter: its config and `prompt_embeddings`,
    one row per virtual token holding every layer's keys then values, as PEFT's `get_prompt`
    reads them (no projection)."""
    from peft import PrefixTuningConfig, TaskType
    from safetensors.torch import save_file

    layers, _, heads, length, size = prefix.weight.shape
    peft_config = PrefixTuningConfig(
        task_type=TaskType.CAUSAL_LM,
        num_virtual_tokens=length,
        token_dim=heads * size,
        num_transformer_submodules=1,
        num_attention_heads=heads,
        num_layers=layers,
    )
    folder.mkdir(parents=True, exist_ok=True)
    peft_config.save_pretrained(str(folder))
    # [layers, 2, heads, length, size] -> [length, (layer, key/value, head, size)]
    rows = prefix.weight.detach().cpu().permute(3, 0, 1, 2, 4).reshape(length, -1)
    save_file({"prompt_embeddings": rows.contiguous()}, str(folder / "adapter_model.safetensors"))


def save_lora_adapter(folder: Path, wrapped, demonstration: str = "") -> None:
    """A PEFT model's adapter (lora-then-ft's), before it is unloaded for the probes."""
    wrapped.save_pretrained(str(folder))
    if demonstration:
        (folder / DEMONSTRATION_FILE).write_text(demonstration, encoding="utf-8")


def has_adapter(tuned) -> bool:
    """The tuned model still carries a PEFT adapter that stripping removes (lora-then-ft)."""
    return tuned.strip is not None and hasattr(tuned.model, "peft_config")


def save_adapters(folder: Path, tuned, attached: dict) -> bool:
    """Every target's adapter into `folder` (one per target under `folder/<target>/` when there
    are several); False when nothing is attached at the target (ft, lora, wise-ft...)."""
    targets = list(attached)
    wanted = [t for t in targets if attached[t].soft_prompt is not None or has_adapter(tuned)]
    if not wanted:
        return False
    for t in wanted:
        where = folder if len(targets) == 1 else folder / t
        prompt, demonstration = attached[t]
        if prompt is not None and prompt.output_positions == 0:  # a key/value prefix
            save_prefix_adapter(where, prompt)
        elif prompt is not None:
            save_prompt_adapter(where, prompt, tuned.model.config, demonstration)
        else:
            save_lora_adapter(where, tuned.model, demonstration)
    return True


def save_model(folder: Path, model, tokenizer) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder), safe_serialization=True)
    tokenizer.save_pretrained(str(folder))


def place(staging: Path, folder: Path, seed: int) -> dict:
    """Move the folders saved under `staging` (`model`, `peft`) to `folder/seed<k>.<name>` and
    return their record for the result (run --save-model and export both end here)."""
    saved = {
        name: folder / f"seed{seed}.{name}"
        for name in ("model", "peft")
        if (staging / name).is_dir()
    }
    for name, final in saved.items():
        replace_folder(staging / name, final)
    return record(saved)


def record(saved: dict) -> dict:
    """name -> {"path", "sha256": {file: hash}}, for the result file."""
    return {name: {"path": path.name, "sha256": file_hashes(path)} for name, path in saved.items()}


def describe(saved: dict) -> str:
    return "; ".join(
        f"{name} {info['path']}/ ({len(info['sha256'])} files)" for name, info in saved.items()
    )
