"""A key/value prefix: prefix tuning's attachment (Li & Liang 2021; PEFT's `PREFIX_TUNING`).

Where a soft prompt is embeddings that run through the model's layers, a prefix is every layer's
keys and values for `length` virtual positions, handed to the model as the start of its
key/value cache. The model's own tokens attend to it and take the positions after it, `length`,
`length` + 1, ..., as PEFT's forward places them (a soft prompt's tokens are numbered the same
way). Decoder-only models only.

Its tensor, `weight`, is [layers, 2 (keys, values), key/value heads, length, head size]. It
answers the calls a soft prompt answers — `prepend` for training and scoring, `shared_cache` for
the shared-beginning caches of training and refill generation, `tensors`, `save` — so the loop,
the evaluation and the record take either. Unlike a soft prompt's, its positions are not in the
model's output (`output_positions` 0), and stock `generate` cannot start from it (the evaluation
generates through refill only).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from promot_bench.errors import RunError, UsageError
from promot_bench.store.atomic import replacing
from promot_bench.train import shared_prefix

TENSOR_KEY = "kv_prefix"


class KVPrefix(nn.Module):
    output_positions = 0  # the model's logits have no columns for the prefix

    def __init__(self, weight: torch.Tensor, init: str = "given"):
        super().__init__()
        if weight.ndim != 5 or weight.shape[1] != 2 or weight.shape[3] < 1:
            raise UsageError(
                "a key/value prefix is a [layers, 2, heads, length, head size] tensor, "
                f"got shape {tuple(weight.shape)}"
            )
        self.weight = nn.Parameter(weight)
        self.init = init

    @classmethod
    def random(cls, model, length: int, seed: int = 0, scale: float = 1.0) -> "KVPrefix":
        """Normal keys and values (PEFT's prefix encoder starts from unit-scale ones)."""
        generator = torch.Generator().manual_seed(seed)  # on CPU: the same draw on every device
        weight = torch.randn(shape_for(model, length), generator=generator) * scale
        return cls(weight, init="random")

    @property
    def length(self) -> int:
        return self.weight.shape[3]

    def prepend(self, model, input_ids, attention_mask=None, labels=None, **passthrough) -> dict:
        return attach(model, self.weight, input_ids, attention_mask, labels, **passthrough)

    def shared_cache(self, model, shared_ids: torch.Tensor):
        return shared_cache(model, self.weight, shared_ids)

    def tensors(self) -> dict:
        return {TENSOR_KEY: self.weight}

    def save(self, path: str | Path) -> Path:
        from safetensors.torch import save_file

        path = Path(path)
        metadata = {"kind": TENSOR_KEY, "shape": ",".join(map(str, self.weight.shape))}
        with replacing(path, fault="prompt-save") as tmp:
            tensor = self.weight.detach().cpu().contiguous()
            save_file({TENSOR_KEY: tensor}, str(tmp), metadata={**metadata, "init": self.init})
        return path

    @classmethod
    def load(cls, path: str | Path) -> "KVPrefix":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as handle:
                metadata = handle.metadata() or {}
                weight = handle.get_tensor(TENSOR_KEY)
        except Exception as exc:  # missing, truncated, corrupt, or not a prefix at all
            raise RunError(f"key/value prefix file {path} is missing or damaged ({exc})") from None
        if metadata.get("shape") != ",".join(map(str, weight.shape)):
            raise RunError(
                f"key/value prefix file {path} is inconsistent: tensor shape "
                f"{tuple(weight.shape)}, metadata shape {metadata.get('shape')}"
            )
        return cls(weight, init=metadata.get("init", "given"))


def shape_for(model, length: int) -> tuple[int, ...]:
    """The shape of a `length`-position prefix for the model's cache; one line for a model
    whose cache a prefix cannot start (encoder-decoder, or a forward that takes no cache)."""
    if model.config.is_encoder_decoder:
        raise UsageError("a key/value prefix attaches to decoder-only models only")
    cache_keyword(model)
    config = model.config.get_text_config(decoder=True)
    heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    size = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return (config.num_hidden_layers, 2, heads, length, size)


def cache_keyword(model) -> str:
    """The keyword under which the model's forward takes a key/value cache; one line where it
    takes none."""
    found = shared_prefix.cache_keyword(model)
    if found is None:
        raise UsageError(f"{type(model).__name__} takes no key/value cache: no prefix can attach")
    return found


def check(model, weight: torch.Tensor) -> None:
    """One line when the prefix does not fit the model's cache (another model's prefix)."""
    expected = shape_for(model, weight.shape[3])
    if tuple(weight.shape) != expected:
        found, expected = [*weight.shape[:3], weight.shape[4]], [*expected[:3], expected[4]]
        raise UsageError(
            f"the key/value prefix has [layers, 2, heads, head size] {found} but the model "
            f"takes {expected}: it was trained for another model"
        )


def cache(model, weight: torch.Tensor, batch_size: int):
    """A fresh key/value cache of the model's own layer kinds holding the prefix for every row."""
    from transformers import DynamicCache

    check(model, weight)
    dtype = next(model.parameters()).dtype
    new = DynamicCache(config=model.config)
    for index, layer in enumerate(weight.to(device=model.device, dtype=dtype)):
        keys, values = (t[None].expand(batch_size, -1, -1, -1) for t in layer)
        new.update(keys, values, index)
    return new


def attach(model, weight, input_ids, attention_mask=None, labels=None, **passthrough) -> dict:
    """Keyword arguments for `model(**kwargs)` with the prefix in front: its cache, the mask
    over prefix and tokens, and each token's position counted over real columns (left padding
    keeps its unpadded positions)."""
    length = weight.shape[3]
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    full = torch.cat([attention_mask.new_ones(input_ids.shape[0], length), attention_mask], 1)
    out = {
        "input_ids": input_ids,
        "attention_mask": full,
        "position_ids": (full.long().cumsum(-1) - 1).clamp(min=0)[:, length:],
        cache_keyword(model): cache(model, weight, input_ids.shape[0]),
        **passthrough,
    }
    if labels is not None:
        out["labels"] = labels
    return out


def shared_cache(model, weight: torch.Tensor, shared_ids: torch.Tensor):
    """The cache of [prefix; `shared_ids`] at batch size 1 (`shared_ids`: 1-D)."""
    start = cache(model, weight, 1)
    if not len(shared_ids):
        return start
    length, n = weight.shape[3], len(shared_ids)
    ids, keyword = shared_ids[None].to(model.device), cache_keyword(model)
    out = model(
        input_ids=ids,
        attention_mask=torch.ones(1, length + n, dtype=torch.long, device=ids.device),
        position_ids=torch.arange(length, length + n, device=ids.device)[None],
        use_cache=True,
        logits_to_keep=1,
        **{keyword: start},
    )
    return getattr(out, keyword)


@torch.no_grad()
def greedy(model, weight, context, attention_mask, max_new: int, eos: set[int]) -> torch.Tensor:
    """Greedy continuations of left-padded `context` rows with the prefix in front, one token a
    step through a growing cache: [rows, max_new] new tokens, a row that wrote an end token
    padded with it (as `generate` pads). Where refill cannot run (a row beyond a sliding
    window, a batch size of "auto")."""
    kwargs = attach(model, weight, context, attention_mask)
    keyword, mask = cache_keyword(model), kwargs["attention_mask"]
    position = kwargs["position_ids"][:, -1:]
    new, done = [], torch.zeros(context.shape[0], dtype=torch.bool, device=context.device)
    fill = min(eos) if eos else 0
    while len(new) < max_new and not bool(done.all()):
        token = (out := model(**kwargs, use_cache=True)).logits[:, -1].argmax(-1)
        token = torch.where(done, torch.full_like(token, fill), token)
        new.append(token)
        done |= torch.isin(token, torch.tensor(sorted(eos), dtype=token.dtype, device=token.device))
        mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1)
        position = position + 1
        kwargs = {"input_ids": token[:, None], "attention_mask": mask, "position_ids": position}
        kwargs[keyword] = getattr(out, keyword)
    if not new:
        return context.new_zeros(context.shape[0], 0)
    return torch.stack(new, dim=1)
