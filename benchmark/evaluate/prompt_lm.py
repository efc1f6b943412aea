"""An lm-eval model that evaluates with a soft prompt (or a key/value prefix) attached.

PEFT's prompt-tuning adapter inside lm-eval's HFLM generates wrong text (its virtual tokens and
the KV cache disagree), so instead this subclass overrides the two places where HFLM touches
the model, `_model_call` (scoring) and `_model_generate` (generation), and attaches the prompt
there with its `prepend` (`SoftPrompt`'s embeddings, or `KVPrefix`'s keys and values in front of
the cache; greedy generation from a prefix outside refill is `kv_prefix.greedy`, as `generate`
cannot start from a bare cache). Everything else (tokenising, batching, truncation, stop
sequences, post-processing) stays HFLM's own. With `soft_prompt=None` it is plain HFLM.

HFLM internals relied on (lm-eval 0.4.13; re-check on upgrade):
  * `_model_call(inps, attn_mask=None, labels=None) -> logits`: causal models get right-padded
    `inps` only; seq2seq models get the encoder mask and decoder `labels` too.
  * `_model_generate(context, max_length, stop, **generation_kwargs) -> tokens`: `context` is
    left-padded, `attention_mask` arrives in the kwargs, and `context` serves only as
    `input_ids=` and, by its shape, as the stop criteria's start; the caller strips
    `context.shape[1]` columns from causal outputs.
  * the `max_length` property (the window HFLM truncates inputs to), `backend`, `model`,
    `device`, `mixed_precision_dtype`.
  * data parallelism: HFLM sets it up only for a model it loads itself under `accelerate
    launch`; for a model object it stays single-process. So under a launch (a started process
    group) this class sets `_rank`/`_world_size` and the collectives lm-eval's evaluator calls
    (`all_gather`, `barrier`) itself: the evaluator then gives each process
    every world-size-th item and gathers the scores on the main process.
"""

from __future__ import annotations

import json

import torch
from lm_eval.models.huggingface import HFLM
from lm_eval.models.utils import (
    handle_stop_sequences,
    normalize_gen_kwargs,
    postprocess_generated_text,
)

from promot_bench.errors import RunError
from promot_bench.evaluate.prefix_cache import PrefixCache
from promot_bench.evaluate.refill import RefillGenerator, Request, common_prefix
from promot_bench.train import kv_prefix
from promot_bench.train.kv_prefix import KVPrefix
from promot_bench.train.soft_prompt import SoftPrompt


class PromptLM(HFLM):
    def __init__(
        self,
        pretrained,
        soft_prompt: SoftPrompt | KVPrefix | None = None,
        reuse_prefix: bool = True,
        progress: str | None = None,
        **kwargs,
    ):
        # Set first: HFLM's constructor may already ask for `max_length`.
        self.soft_prompt = soft_prompt
        self.progress = progress  # a label: show this pass's items done (None: silent)
        super().__init__(pretrained=pretrained, **kwargs)
        prefix = (
            PrefixCache(self.model, soft_prompt)
            if reuse_prefix and self.backend == "causal"
            else None
        )
        self.prefix_cache = prefix if prefix is not None and prefix.applies() else None
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            self._rank, self._world_size = (
                torch.distributed.get_rank(),
                torch.distributed.get_world_size(),
            )

    # lm-eval's collectives on the process group directly: HFLM's go through an Accelerator it
    # creates only for models it loads itself (its `gather_object` already uses the group).
    def all_gather(self, tensor):
        if self.world_size == 1:
            return tensor
        tensor = tensor.reshape(1) if tensor.dim() == 0 else tensor
        parts = [torch.empty_like(tensor) for _ in range(self.world_size)]
        torch.distributed.all_gather(parts, tensor)
        return torch.cat(parts)

    def barrier(self):
        if self.world_size > 1:
            torch.distributed.barrier()

    @property
    def max_length(self) -> int:
        # The prompt takes part of the window: HFLM must truncate inputs to what is left.
        return super().max_length - self._prompt_length

    @property
    def _prompt_length(self) -> int:
        return 0 if self.soft_prompt is None else self.soft_prompt.length

    def _autocast(self):
        # The same mixed-precision context HFLM runs its own forward passes in.
        return torch.autocast(
            device_type=self.device.type,
            dtype=self.mixed_precision_dtype,
            enabled=self.mixed_precision_dtype is not None,
        )

    def _model_call(self, inps, attn_mask=None, labels=None):
        if self.soft_prompt is None:
            return super()._model_call(inps, attn_mask=attn_mask, labels=labels)
        # Causal: no mask from HFLM (right padding), so the prompt is a plain prefix.
        # Seq2seq: the prompt goes in front of the encoder input; `labels` stay the decoder's.
        with torch.no_grad(), self._autocast():
            inputs = self.soft_prompt.prepend(self.model, inps, attn_mask, labels)
            logits = self.model(**inputs).logits
        if self.backend == "causal":
            # Drop the prompt's positions (a key/value prefix has none in the output): HFLM
            # slices the logits by its own token counts.
            logits = logits[:, self.soft_prompt.output_positions :]
        return logits

    def generate_until(self, requests, disable_tqdm: bool = False):
        """Greedy requests go through refill generation (`refill.py`), all tasks together;
        anything else (sampling, "auto" batch size, other backends) through HFLM's own."""
        if (
            self.prefix_cache is None
            or self.batch_size == "auto"
            or isinstance(self.think_end_token, int)
        ):
            return super().generate_until(requests, disable_tqdm=disable_tqdm)

        from tqdm import tqdm

        groups: dict[tuple, list[int]] = {}  # one task and one set of generation options each
        for i, request in enumerate(requests):
            key = (
                getattr(request, "task_name", None),
                json.dumps(request.args[1], sort_keys=True, default=str),
            )
            groups.setdefault(key, []).append(i)
        results: list[str | None] = [None] * len(requests)
        greedy = []
        for indices in groups.values():
            planned = self._greedy_requests([requests[i] for i in indices])
            if planned is None:  # sampling or extra generation options: HFLM's generate does it
                texts = super().generate_until([requests[i] for i in indices], disable_tqdm=True)
                for i, text in zip(indices, texts):
                    results[i] = text
                continue
            rows, until = planned
            # One task after another (its prefills then share one beginning), longest first.
            rows_in_order = sorted(
                zip(indices, rows), key=lambda x: (-len(x[1].tokens), requests[x[0]].args[0])
            )
            greedy += [(i, row, until) for i, row in rows_in_order]
        if greedy:
            bar = self.phase("generating", len(greedy)) or tqdm(
                total=len(greedy),
                disable=disable_tqdm or self.rank != 0,
                desc="Running generate_until requests",
            )
            generator = RefillGenerator(
                self.model, self.prefix_cache, int(self.batch_size), bar.update
            )
            try:
                with self._autocast():
                    generator.run([row for _, row, _ in greedy])
            except NotImplementedError:  # the model's cache is not a plain growing one
                bar.close()
                self.prefix_cache = None
                return super().generate_until(requests, disable_tqdm=disable_tqdm)
            bar.close()
            for i, row, until in greedy:
                context, gen_kwargs = requests[i].args
                text = postprocess_generated_text(
                    self.tok_decode(row.new), until, self.think_end_token
                )
                results[i] = text
                self.cache_hook.add_partial("generate_until", (context, gen_kwargs), text)
        return results

    def phase(self, what: str, total: int):
        """Our own progress for this pass (`progress`'s label), on the main process; None when
        the pass is silent."""
        if self.progress is None or self.rank != 0:
            return None
        from promot_bench.console import Phase

        return Phase(f"{self.progress}: {what}", total)

    def _greedy_requests(self, requests):
        """Refill rows for one task's requests and their stop sequences, or None when the
        options ask for more than greedy decoding."""
        kwargs = normalize_gen_kwargs(requests[0].args[1], self.max_gen_toks)
        eos = self.tok_decode(self.eot_token_id, skip_special_tokens=False)
        until = handle_stop_sequences(kwargs.pop("until", None), eos=eos)
        max_gen_toks = kwargs.pop("max_gen_toks")
        if kwargs.pop("do_sample", False) or kwargs.pop("temperature", 0.0) or kwargs:
            return None
        # As HFLM encodes a batch, one row at a time: same special tokens, same left truncation.
        tokens = [
            self.tok_batch_encode(
                [r.args[0]],
                left_truncate_len=self.max_length - max_gen_toks,
                truncation=self.truncation,
            )[0][0].tolist()
            for r in requests
        ]
        # Any shared beginning pays here: its cache is computed once for the whole task.
        shared = common_prefix(tokens)
        eos_ids = self.model.generation_config.eos_token_id
        eos_ids = set(
            eos_ids if isinstance(eos_ids, list) else [] if eos_ids is None else [eos_ids]
        )
        texts_until = [u for u in until if u and u != eos]

        def stopped(new: list[int]) -> bool:  # as generate's eos check and HFLM's stop criteria
            return new[-1] in eos_ids or any(u in self.tok_decode(new) for u in texts_until)

        return [Request(t, shared, max_gen_toks, stopped) for t in tokens], until

    def _prefix_generate(self, context, max_length, generation_kwargs):
        """A key/value prefix's greedy decoding outside refill (`kv_prefix.greedy`), returned
        as generate returns it: the context, then the new tokens."""
        mask = generation_kwargs.pop("attention_mask", None)
        if generation_kwargs.get("do_sample") or generation_kwargs.get("temperature"):
            raise RunError("a key/value prefix decodes greedily only: drop do_sample/temperature")
        eos = self.model.generation_config.eos_token_id
        eos = set(eos if isinstance(eos, list) else [] if eos is None else [eos])
        with self._autocast():
            new = kv_prefix.greedy(
                self.model,
                self.soft_prompt.weight,
                context,
                mask,
                max_length - context.shape[1],
                eos,
            )
        return torch.cat([context, new.to(context.device)], dim=1)

    def _model_generate(self, context, max_length, stop, **generation_kwargs):
        if self.soft_prompt is None:
            return super()._model_generate(context, max_length, stop, **generation_kwargs)
        if self.soft_prompt.output_positions == 0:  # generate() cannot start from a bare cache
            return self._prefix_generate(context, max_length, generation_kwargs)
        with torch.no_grad():  # the prompt may be trainable; evaluation builds no graph
            inputs = self.soft_prompt.prepend(
                self.model, context, generation_kwargs.pop("attention_mask", None)
            )
        if self.backend == "seq2seq":
            # generate() takes either input_ids or inputs_embeds for the encoder, and HFLM passes
            # input_ids: run the prompted encoder here and hand generate its outputs instead.
            # The decoder side, max_length and the stop criteria stay exactly HFLM's.
            with torch.no_grad(), self._autocast():
                encoder_outputs = self.model.get_encoder()(**inputs)
            return super()._model_generate(
                context,
                max_length,
                stop,
                encoder_outputs=encoder_outputs,
                attention_mask=inputs["attention_mask"],
                **generation_kwargs,
            )
        # Decoder-only generate() from embeddings keeps only the NEW tokens in its running
        # input_ids. So: an empty context (the stop criteria then scan new tokens only, as HFLM's
        # do), max_length counted over the embeddings, and the context put back in front of the
        # output, because HFLM strips `context.shape[1]` columns from what it gets.
        new_tokens = max_length - context.shape[1]
        total = inputs["inputs_embeds"].shape[1] + new_tokens
        out = super()._model_generate(context[:, :0], total, stop, **inputs, **generation_kwargs)
        return torch.cat([context, out.to(context.device)], dim=1)
