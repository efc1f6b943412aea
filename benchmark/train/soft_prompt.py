"""The soft prompt: a few trainable embedding vectors prepended to a model's input, as in prompt
tuning and ProMoT. It lives beside the model, never inside its weights: it is saved to its own
safetensors file and attached only when a run asks for it.

`prepend` is the one place that knows how to attach it, for training, scoring and generation:
  * decoder-only, right padding (training, lm-eval scoring): [prompt; tokens; pads];
  * decoder-only, left padding (batched generation): [pads; prompt; tokens], with explicit
    position ids so that every row sees the positions it would see unpadded;
  * encoder-decoder (T5/mT5, as the study did): the prompt goes in front of the encoder input;
    the decoder side is passed through unchanged.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from promot_bench.errors import RunError, UsageError
from promot_bench.store.atomic import replacing

TENSOR_KEY = "soft_prompt"
INIT_METHODS = ("vocab", "text", "random")


class SoftPrompt(nn.Module):
    def __init__(self, weight: torch.Tensor, init: str = "given", seed: int | None = None):
        super().__init__()
        if weight.ndim != 2 or weight.shape[0] < 1:
            raise UsageError(
                f"a soft prompt is a [length, hidden_size] matrix, got shape {tuple(weight.shape)}"
            )
        self.weight = nn.Parameter(weight)
        self.init = init
        self.seed = seed

    @property
    def length(self) -> int:
        return self.weight.shape[0]

    @property
    def hidden_size(self) -> int:
        return self.weight.shape[1]

    @property
    def output_positions(self) -> int:
        """Columns of the model's output that are the prompt's (scoring drops them)."""
        return self.length

    def extra_repr(self) -> str:
        return (
            f"length={self.length}, hidden_size={self.hidden_size}, init={self.init}, "
            f"seed={self.seed}"
        )

    # ---- constructors -------------------------------------------------------------------------

    @classmethod
    def from_vocab(cls, model, length: int, seed: int = 0) -> "SoftPrompt":
        """Embeddings of `length` token ids drawn uniformly from the vocabulary (prompt tuning's
        usual initialisation)."""
        embed = model.get_input_embeddings()
        generator = torch.Generator().manual_seed(seed)  # on CPU: the same draw on every device
        ids = torch.randint(0, embed.weight.shape[0], (_check_length(length),), generator=generator)
        return cls(_embed_ids(embed, ids), init="vocab", seed=seed)

    @classmethod
    def from_text(cls, model, tokenizer, text: str, length: int) -> "SoftPrompt":
        """Embeddings of `text`'s tokens, repeated or cut to `length` (PEFT's TEXT init)."""
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if not ids:
            raise UsageError("the soft prompt's init text is empty: give some words to start from")
        reps = -(-_check_length(length) // len(ids))  # ceil division
        ids = torch.tensor((ids * reps)[:length])
        return cls(_embed_ids(model.get_input_embeddings(), ids), init="text")

    @classmethod
    def random(cls, model, length: int, seed: int = 0) -> "SoftPrompt":
        """Normal noise with the embedding matrix's standard deviation (the study's fixed random
        prompt baseline)."""
        embed = model.get_input_embeddings()
        # Models that scale embeddings inside the module (Gemma) see scaled vectors: match them.
        scale = float(getattr(embed, "embed_scale", 1.0))
        std = embed.weight.detach().float().std().item() * scale
        generator = torch.Generator().manual_seed(seed)
        noise = torch.randn(_check_length(length), embed.weight.shape[1], generator=generator) * std
        return cls(
            noise.to(device=embed.weight.device, dtype=embed.weight.dtype), init="random", seed=seed
        )

    # ---- attaching ----------------------------------------------------------------------------

    def prepend(
        self,
        model,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **passthrough,
    ) -> dict:
        """Keyword arguments for `model(**kwargs)` (or `model.generate`) with the prompt attached.

        `passthrough` (e.g. `decoder_input_ids`) is returned unchanged."""
        return attach(model, self.weight, input_ids, attention_mask, labels, **passthrough)

    def shared_cache(self, model, shared_ids: torch.Tensor):
        """The key/value cache of [prompt; `shared_ids`] at batch size 1."""
        from promot_bench.train.shared_prefix import embedded_cache

        return embedded_cache(model, self.weight, shared_ids)

    def tensors(self) -> dict:
        """What trains, by checkpoint name."""
        return {TENSOR_KEY: self.weight}

    # ---- storage ------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        from safetensors.torch import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        metadata = {
            "length": str(self.length),
            "hidden_size": str(self.hidden_size),
            "init": self.init,
            "seed": "" if self.seed is None else str(self.seed),
            "dtype": str(self.weight.dtype).removeprefix("torch."),
        }
        with replacing(path, fault="prompt-save") as tmp:
            save_file(
                {TENSOR_KEY: self.weight.detach().cpu().contiguous()}, str(tmp), metadata=metadata
            )
        return path

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> "SoftPrompt":
        from safetensors import safe_open

        path = Path(path)
        if not path.is_file():
            raise RunError(f"soft prompt file {path} does not exist")
        try:
            with safe_open(str(path), framework="pt", device=str(device)) as handle:
                metadata = handle.metadata() or {}
                weight = handle.get_tensor(TENSOR_KEY)
        except Exception as exc:  # truncated, corrupt, or not a safetensors file at all
            raise RunError(
                f"soft prompt file {path} is damaged or not a soft prompt "
                f"({type(exc).__name__}: {str(exc).strip() or 'unreadable'})"
            ) from None
        expected = (metadata.get("length"), metadata.get("hidden_size"))
        if weight.ndim != 2 or expected != (str(weight.shape[0]), str(weight.shape[1])):
            raise RunError(
                f"soft prompt file {path} is inconsistent: tensor shape {tuple(weight.shape)}, "
                f"metadata length/hidden_size {expected}"
            )
        seed = metadata.get("seed", "")
        seed = int(seed) if seed.lstrip("-").isdigit() else None
        return cls(weight, init=metadata.get("init", "given"), seed=seed)


class PromptSet(nn.Module):
    """One soft prompt per task, for multi-task training: each row of a batch gets its own
    task's prompt (all prompts have the same length, so rows stay aligned)."""

    def __init__(self, prompts: dict[str, SoftPrompt]):
        super().__init__()
        if not prompts or len({p.weight.shape for p in prompts.values()}) != 1:
            raise UsageError("a prompt set needs at least one prompt, all of the same shape")
        self.tasks = list(prompts)
        for i, prompt in enumerate(prompts.values()):
            self.add_module(f"prompt{i}", prompt)  # tasks' names may hold characters modules refuse

    def __getitem__(self, task: str) -> SoftPrompt:
        return getattr(self, f"prompt{self.tasks.index(task)}")

    @property
    def length(self) -> int:
        return self[self.tasks[0]].length

    def prepend(
        self,
        model,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        tasks: list[str] | None = None,
        **passthrough,
    ) -> dict:
        if tasks is None or len(tasks) != input_ids.shape[0]:
            raise RunError("a prompt set needs the task of every row")
        unknown = sorted(set(tasks) - set(self.tasks))
        if unknown:
            raise RunError(
                f"no soft prompt for task(s) {', '.join(unknown)}: the set has "
                f"{', '.join(self.tasks)}"
            )
        rows = torch.stack([self[task].weight for task in tasks])
        return attach(model, rows, input_ids, attention_mask, labels, **passthrough)

    def tensors(self) -> dict:
        return {f"{TENSOR_KEY}.{task}": self[task].weight for task in self.tasks}


def for_task(prompt, task: str):
    """The prompt to attach for `task`: its own from a prompt set, else the one prompt (or None)."""
    return prompt[task] if isinstance(prompt, PromptSet) else prompt


def attach(
    model,
    weight: torch.Tensor,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
    **passthrough,
) -> dict:
    """Prepend `weight` ([length, hidden], or [batch, length, hidden]: one prompt per row)."""
    embed = model.get_input_embeddings()
    hidden = weight.shape[-1]
    if embed.weight.shape[1] != hidden:
        raise UsageError(
            f"the soft prompt has hidden size {hidden} but the model's "
            f"embeddings have {embed.weight.shape[1]}: it was trained for another model"
        )
    length = weight.shape[-2]
    tokens = embed(input_ids)
    # `.to` keeps the autograd link, so the same call serves training.
    prompt = weight.to(device=tokens.device, dtype=tokens.dtype)
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    # Insert the prompt right before each row's first real token: index 0 for right padding
    # (a plain concatenation), after the pads for left padding.
    starts = (attention_mask.cumsum(-1) == 0).sum(-1)
    ones = torch.ones(length, dtype=attention_mask.dtype, device=attention_mask.device)
    out = {
        "inputs_embeds": _insert(tokens, prompt, starts),
        "attention_mask": _insert(attention_mask, ones, starts),
        **passthrough,
    }
    if model.config.is_encoder_decoder:
        if labels is not None:  # labels belong to the decoder: untouched
            out["labels"] = labels
        return out
    if labels is not None:
        ignore = torch.full((length,), -100, dtype=labels.dtype, device=labels.device)
        out["labels"] = _insert(labels, ignore, starts)
    if bool(starts.any()):
        # Left padding: the model would count positions from the first column, pads included.
        # Counting real (and prompt) columns only gives each row its unpadded positions.
        out["position_ids"] = (out["attention_mask"].long().cumsum(-1) - 1).clamp(min=0)
    return out


def _check_length(length: int) -> int:
    if int(length) < 1:
        raise UsageError(f"soft prompt length must be at least 1, got {length}")
    return int(length)


def _embed_ids(embed: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    # Through the module, not `weight[ids]`: some models scale embeddings in forward (Gemma).
    with torch.no_grad():
        return embed(ids.to(embed.weight.device)).detach().clone()


def _insert(rows: torch.Tensor, block: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
    """Insert `block` into every row of `rows` (batch first, sequence second) at `starts[b]`;
    a block with a batch dimension gives each row its own."""
    if block.ndim < rows.ndim:
        block = block.expand(rows.shape[0], *block.shape)
    if not bool(starts.any()):
        return torch.cat([block, rows], dim=1)
    return torch.stack(
        [torch.cat([row[:s], b, row[s:]]) for row, b, s in zip(rows, block, starts.tolist())]
    )
