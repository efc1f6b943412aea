"""The key/value caches of the beginnings a task's requests share (its demonstrations — our
tasks take the first k training rows, `sampler: first_n` — and a soft prompt or key/value
prefix): computed once
per task at batch size 1, copied into every prefill by refill generation (`refill.py`), so
stock lm-eval's recomputation of that beginning for every item is saved. Decoder-only models
whose forward takes a cache (`applies`); others use stock generation.
"""

from __future__ import annotations

import torch

from promot_bench.train.shared_prefix import beginning_cache, cache_argument

MAX_KEPT = 16  # prefixes kept at once: one per task being evaluated (a few MB each)


class PrefixCache:
    """Keeps the key/value caches of the shared beginnings seen, for one model and prompt."""

    def __init__(self, model, soft_prompt=None):
        self.model = model
        self.soft_prompt = soft_prompt
        self.argument = cache_argument(model)
        self._caches: dict[tuple, object] = {}  # prefix tokens -> cache, a few tasks' worth
        self.hits = 0  # prefills that reused a cache computed earlier (for tests)

    @property
    def prompt_length(self) -> int:
        return 0 if self.soft_prompt is None else self.soft_prompt.length

    def applies(self) -> bool:
        return self.argument is not None

    def cache_for(self, prefix_ids: torch.Tensor):
        """The key/value cache of [soft prompt or key/value prefix; `prefix_ids`] at batch size 1
        (callers copy it)."""
        key = tuple(prefix_ids.tolist())
        if key in self._caches:
            self.hits += 1
            return self._caches[key]
        if len(self._caches) >= MAX_KEPT:
            self._caches.pop(next(iter(self._caches)))  # the oldest
        self._caches[key] = beginning_cache(self.model, prefix_ids, self.soft_prompt)
        return self._caches[key]
