"""Few-shot generation with the shared beginning computed once.

Every item of a few-shot task begins with the same demonstrations (our tasks take the first k
training rows, `sampler: first_n`), and a soft prompt is the same for every row too. Stock
lm-eval recomputes that beginning for every item. Here the longest token prefix that all rows of
a generation batch share (after the soft prompt, if any) is run once at batch size 1; its
key/value cache is kept for the next batch of the same task (same prefix) and expanded to the
batch; `generate` then computes only each row's own tokens:

    stock:  [pads | prompt | demonstration | item_i]      every row, every batch
    here:   [prompt | demonstration] once per task   +   [pads | item_i] per row

Positions are unchanged (generate numbers tokens by the attention mask's running sum, and the
padding now sits between the prefix and the item, masked), so each row sees what it saw
before; only the order of floating-point sums differs. Decoder-only models whose forward takes
a cache; everything else falls back to the caller's path.
"""

from __future__ import annotations

import copy

import torch

from .shared_prefix import cache_argument

MIN_SHARED = 16  # a shorter shared beginning saves less than its extra forward call costs
MAX_KEPT = 16  # prefixes kept at once: one per task being evaluated (a few MB each)


def common_length(context: torch.Tensor, attention_mask: torch.Tensor) -> int:
    """Tokens that every (left-padded) row shares after its padding, leaving each row at least
    its last token (whose logits give the first generated token)."""
    lengths = attention_mask.sum(1)
    shortest = int(lengths.min())
    if shortest < 2:
        return 0
    # Each row's real tokens, aligned at their start.
    rows = torch.stack([row[row.shape[0] - int(n):][:shortest] for row, n in zip(context, lengths)])
    same = (rows == rows[:1]).all(0).long().cumprod(0)
    return min(int(same.sum()), shortest - 1)


class PrefixCache:
    """Keeps the key/value caches of the shared beginnings seen, for one model and prompt."""

    def __init__(self, model, soft_prompt=None):
        self.model = model
        self.soft_prompt = soft_prompt
        self.argument = cache_argument(model)
        self._caches: dict[tuple, object] = {}  # prefix tokens -> cache, a few tasks' worth
        self.hits = 0  # batches that reused a cache computed for an earlier batch (for tests)

    @property
    def prompt_length(self) -> int:
        return 0 if self.soft_prompt is None else self.soft_prompt.length

    def applies(self) -> bool:
        return self.argument is not None

    def split(self, context: torch.Tensor, attention_mask: torch.Tensor) -> int:
        """How many of each row's leading tokens to serve from the cache (0: none)."""
        n = common_length(context, attention_mask)
        return n if n + self.prompt_length >= MIN_SHARED else 0

    def cache_for(self, prefix_ids: torch.Tensor):
        """The key/value cache of [soft prompt; `prefix_ids`] at batch size 1 (callers copy it)."""
        key = tuple(prefix_ids.tolist())
        if key in self._caches:
            self.hits += 1
            return self._caches[key]
        embeds = self.model.get_input_embeddings()(prefix_ids[None])
        if self.soft_prompt is not None:
            embeds = torch.cat([self.soft_prompt.weight.to(embeds.dtype)[None], embeds], dim=1)
        out = self.model(inputs_embeds=embeds, use_cache=True, logits_to_keep=1)
        if len(self._caches) >= MAX_KEPT:
            self._caches.pop(next(iter(self._caches)))  # the oldest
        self._caches[key] = getattr(out, self.argument)
        return self._caches[key]

    def inputs(self, context: torch.Tensor, attention_mask: torch.Tensor, n: int) -> dict:
        """`generate` keyword arguments for the batch with its first `n` real tokens (and the
        soft prompt) served from the cache: `input_ids`, `attention_mask` and the cache."""
        lengths = attention_mask.sum(1)
        first = context.shape[1] - int(lengths[0])  # row 0's padding
        prefix_ids = context[0, first:first + n]
        cache = copy.deepcopy(self.cache_for(prefix_ids))  # generate extends it in place
        cache.batch_repeat_interleave(context.shape[0])

        # [prefix placeholders | pads | own tokens]: the placeholders are never fed to the model
        # (generate starts after the cached length) but give the mask and positions their width.
        width = self.prompt_length + n
        own = int(lengths.max()) - n
        rows, masks = [], []
        for row, length in zip(context, lengths):
            tail = row[row.shape[0] - int(length) + n:]
            pad = own - tail.shape[0]
            rows.append(torch.cat([row.new_full((width + pad,), int(prefix_ids[0])), tail]))
            masks.append(torch.cat([attention_mask.new_ones(width), attention_mask.new_zeros(pad),
                                    attention_mask.new_ones(tail.shape[0])]))
        return {"input_ids": torch.stack(rows), "attention_mask": torch.stack(masks), self.argument: cache}
