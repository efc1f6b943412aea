"""Greedy generation that refills the batch as rows finish (continuous batching).

Stock batched generation runs every batch until its *longest* row stops. On a small CPU a
decoding step costs about the same for 8 rows as for 1 (it is bound by reading the weights;
see benchmark/perf/README.md), so a batch whose other rows stopped after two tokens keeps paying
for them. Here requests are prefilled `batch_size` at a time into a waiting pool, and as rows
stop, waiting ones take their places: decoding steps go to rows that still generate, and no
forward pass ever holds more than `batch_size` rows. Each request gets the same greedy tokens
as before; only the order of floating-point sums differs (benchmark/perf/eval.py checks that
outputs stay identical).

A task's requests share a beginning (its demonstrations, and a soft prompt or key/value
prefix): that beginning's key/value cache is computed once (`PrefixCache`) and prefills start
from a copy. The batch's
cache holds each row right-aligned, [padding | shared beginning | padding | own tokens |
generated], padding masked and positions counted over real tokens only, as left-padded
generation numbers them.

Decoder-only models with a plain growing cache (`DynamicLayer`), or sliding-window layers
(`DynamicSlidingWindowLayer`, Gemma 3's local attention) while every row stays inside the window:
a sliding layer that has dropped nothing is a plain growing cache. Callers fall back to stock
generation otherwise (a window shorter than some row would be).
"""

from __future__ import annotations

import copy
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import torch


@dataclass
class Request:
    tokens: list[int]  # the full context
    shared: int  # how many leading tokens come from its task's shared-beginning cache
    max_new: int
    stopped: Callable[[list[int]], bool]  # does this generated token list end the request?
    new: list[int] = field(default_factory=list)  # generated so far

    @property
    def done(self) -> bool:
        return len(self.new) >= self.max_new or (bool(self.new) and self.stopped(self.new))


def common_prefix(token_lists: list[list[int]]) -> int:
    """Length of the prefix all lists share, leaving each at least one token of its own."""
    shortest = min(len(t) for t in token_lists)
    if len(token_lists) == 1:
        return shortest - 1
    n = 0
    while n < shortest - 1 and all(t[n] == token_lists[0][n] for t in token_lists):
        n += 1
    return n


def refillable(cache, columns: int) -> bool:
    """Whether the cache's layers stay plain growing caches for rows up to `columns` long: every
    layer a `DynamicLayer`, or a sliding-window layer that keeps them whole (it keeps its last
    window − 1 columns)."""
    from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer

    layers = getattr(cache, "layers", None)
    return bool(layers) and all(
        type(layer) is DynamicLayer
        or (type(layer) is DynamicSlidingWindowLayer and columns <= layer.sliding_window - 1)
        for layer in layers
    )


def set_columns(layer, keys, values) -> None:
    """Replace a layer's keys and values; a sliding layer's count of columns seen follows (it
    sizes the attention mask), as it would have had it grown to these columns itself."""
    layer.keys, layer.values = keys, values
    if hasattr(layer, "cumulative_length"):
        layer.cumulative_length = keys.shape[-2]


class RefillGenerator:
    """Greedy continuations of many requests, at most `batch_size` rows per forward pass."""

    def __init__(
        self, model, prefix_cache, batch_size: int, progress: Callable[[int], None] = lambda n: None
    ):
        self.model = model
        self.prefix = prefix_cache  # a PrefixCache: soft prompt + shared tokens -> key/value cache
        self.batch_size = batch_size
        self.progress = progress

    @torch.no_grad()
    def run(self, requests: list[Request]) -> list[list[int]]:
        # the longest any row can grow: merges pad on the left, outside a row's own columns
        self.columns = (
            self.prefix.prompt_length
            + max(r.shared for r in requests)
            + max(len(r.tokens) - r.shared for r in requests)
            + max(r.max_new for r in requests)
        )
        queue = deque(requests)
        waiting: deque[Rows] = deque()  # prefilled, first token chosen, not yet decoding
        active: Rows | None = None
        while queue or waiting or active:
            free = self.batch_size - (len(active.rows) if active else 0)
            if free and not waiting and queue:
                batch = [queue.popleft() for _ in range(min(self.batch_size, len(queue)))]
                for rows in _by_prefix(batch):
                    waiting.append(self.finish(self.prefill(rows)))
            while free and waiting:
                taken = waiting[0].take(free)
                if not waiting[0].rows:
                    waiting.popleft()
                active = taken if active is None else active.merge(taken)
                free = self.batch_size - len(active.rows)
            if active is None or not active.rows:
                active = None
                continue
            last = self.decode(active)
            for row, token in zip(active.rows, last.tolist()):
                row.new.append(token)
            active.last = last
            active = self.finish(active)
        return [r.new for r in requests]

    def finish(self, group: "Rows") -> "Rows":
        """Drop the rows that are done, counting them."""
        keep = [i for i, row in enumerate(group.rows) if not row.done]
        if len(keep) < len(group.rows):
            self.progress(len(group.rows) - len(keep))
            group.select(keep)
        return group

    def prefill(self, rows: list[Request]) -> "Rows":
        """Run the rows' own tokens (they share one beginning) after a copy of its cache, and
        choose each row's first token."""
        n = rows[0].shared
        out, mask = prefill_pass(
            self.model, self.prefix, rows[0].tokens[:n], [r.tokens[n:] for r in rows], 1
        )
        cache = getattr(out, self.prefix.argument)
        if not refillable(cache, self.columns):
            raise NotImplementedError("refill generation needs a plain growing key/value cache")
        first = out.logits[:, -1].argmax(-1)
        for row, token in zip(rows, first.tolist()):
            row.new.append(token)
        return Rows(rows, cache, mask, first)

    def decode(self, active: "Rows") -> torch.Tensor:
        mask = active.mask
        positions = mask.sum(1, keepdim=True)  # real tokens so far = the next token's position
        active.mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1)
        out = self.model(
            input_ids=active.last[:, None],
            attention_mask=active.mask,
            position_ids=positions,
            use_cache=True,
            **{self.prefix.argument: active.cache},
        )
        return out.logits[:, -1].argmax(-1)


def prefill_pass(model, prefix, shared: list[int], own: list[list[int]], logits_to_keep: int):
    """One forward pass of rows that share the beginning `shared`: a copy of its cached
    keys/values (with the soft prompt, if any), then each row's own tokens, right-aligned:
    [shared beginning | padding | own tokens], padding masked and positions counted over real
    tokens only. Returns the model's output (logits of the last `logits_to_keep` columns) and
    the attention mask over all columns, on the model's device."""
    width = prefix.prompt_length + len(shared)
    length = max(len(t) for t in own)
    ids = torch.tensor([[0] * (length - len(t)) + t for t in own])
    own_mask = torch.tensor([[0] * (length - len(t)) + [1] * len(t) for t in own])
    mask = torch.cat([own_mask.new_ones(len(own), width), own_mask], dim=1)
    positions = (mask.cumsum(1) - 1).clamp(min=0)[:, width:]
    kwargs = {}
    if width:
        cache = copy.deepcopy(prefix.cache_for(torch.tensor(shared, dtype=torch.long)))
        cache.batch_repeat_interleave(len(own))
        kwargs[prefix.argument] = cache
    device = model.device
    out = model(
        input_ids=ids.to(device),
        attention_mask=mask.to(device),
        position_ids=positions.to(device),
        use_cache=True,
        logits_to_keep=logits_to_keep,
        **kwargs,
    )
    return out, mask.to(device)


@dataclass
class Rows:
    """Rows with their key/value cache (a transformers Cache whose layers hold [rows, heads,
    columns, dim] tensors), attention mask [rows, columns] and last chosen token per row."""

    rows: list[Request]
    cache: object
    mask: torch.Tensor
    last: torch.Tensor

    def select(self, keep: list[int]) -> None:
        """Keep the rows `keep`, and drop the columns that are padding for all of them."""
        index = torch.tensor(keep, dtype=torch.long, device=self.mask.device)
        mask = self.mask[index]
        first = int(mask.any(0).long().argmax()) if len(keep) else mask.shape[1]
        # Merges pad on the left, so columns that are padding for every kept row start there:
        # slice them off. (A prefill's padding after the shared beginning stays, masked.)
        for layer in self.cache.layers:
            set_columns(layer, layer.keys[index, :, first:], layer.values[index, :, first:])
        self.rows = [self.rows[i] for i in keep]
        self.mask, self.last = mask[:, first:], self.last[index]

    def take(self, count: int) -> "Rows":
        """Split off the first `count` rows (as a new Rows sharing no tensors with this one)."""
        if count >= len(self.rows):
            taken = Rows(self.rows, self.cache, self.mask, self.last)
            self.rows = []
            return taken
        taken = Rows(self.rows, copy.copy(self.cache), self.mask, self.last)
        taken.cache.layers = [copy.copy(layer) for layer in self.cache.layers]
        taken.select(list(range(min(count, len(self.rows)))))
        self.select(list(range(min(count, len(self.rows)), len(self.rows))))
        return taken

    def merge(self, other: "Rows") -> "Rows":
        """These rows and `other`'s in one cache, the shorter side padded on the left."""
        length = max(self.mask.shape[1], other.mask.shape[1])
        for layer, extra in zip(self.cache.layers, other.cache.layers):
            set_columns(
                layer,
                torch.cat([_pad_kv(layer.keys, length), _pad_kv(extra.keys, length)]),
                torch.cat([_pad_kv(layer.values, length), _pad_kv(extra.values, length)]),
            )
        self.mask = torch.cat([_pad_mask(self.mask, length), _pad_mask(other.mask, length)])
        self.rows, self.last = self.rows + other.rows, torch.cat([self.last, other.last])
        return self


def _by_prefix(rows: list[Request]) -> list[list[Request]]:
    groups: dict[tuple, list[Request]] = {}
    for row in rows:
        groups.setdefault(tuple(row.tokens[: row.shared]), []).append(row)
    return list(groups.values())


def _pad_mask(mask, length: int):
    pad = length - mask.shape[1]
    return mask if pad == 0 else torch.cat([mask.new_zeros(mask.shape[0], pad), mask], dim=1)


def _pad_kv(tensor, length: int):
    pad = length - tensor.shape[2]
    if pad == 0:
        return tensor
    return torch.cat(
        [tensor.new_zeros(tensor.shape[0], tensor.shape[1], pad, tensor.shape[3]), tensor], dim=2
    )
