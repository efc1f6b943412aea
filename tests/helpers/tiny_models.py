"""Tiny models built from config, with a tokenizer trained locally: no hub, a few hundred
thousand parameters, fast enough for every unit test. Random weights: tests check mechanics
(what changes, what is exact), never quality."""

from __future__ import annotations

from pathlib import Path

CORPUS = [
    "Q: What is the capital of France? A: Paris",
    "Translate English to French: United Kingdom",
    "Article: The quick brown fox jumps over the lazy dog. One sentence summary:",
    "premise question: hypothesis Is it true or false? answer: True False Neither",
    "The word bank is used in the same way in the two sentences.",
    "0123456789 .,;:!?'\"()-",
]
SPECIAL = ["<pad>", "<s>", "</s>", "<unk>"]


def build_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    core.train_from_iterator(CORPUS, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
    )


def decoder_sizes(tokenizer) -> dict:
    """The tiny decoders' shared shape: two layers, 64 wide, grouped-query attention, tied
    embeddings, the test tokenizer's special tokens."""
    return dict(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )


def build_tiny_llama(out: Path) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer()
    torch.manual_seed(0)
    config = LlamaConfig(**decoder_sizes(tokenizer))
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def build_tiny_gemma3(out: Path, sliding_window: int = 64) -> Path:
    """Gemma 3's text model in miniature: a sliding-window (local) layer, then a full one, as
    the embedded gemma3-270m alternates them."""
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    tokenizer = build_tokenizer()
    torch.manual_seed(0)
    config = Gemma3TextConfig(
        **decoder_sizes(tokenizer),
        head_dim=16,
        sliding_window=sliding_window,
        layer_types=["sliding_attention", "full_attention"],
    )
    Gemma3ForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def build_tiny_t5(out: Path) -> Path:
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    tokenizer = build_tokenizer()
    torch.manual_seed(0)
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=64,
        d_kv=16,
        d_ff=128,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=4,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    T5ForConditionalGeneration(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def livened(loaded, seed=0):
    """Re-draw the tiny model's matrices with unit-scale variance. Freshly initialised weights
    (std 0.02) give near-flat logits, where a wrong position or mask barely shows; these make
    every input matter."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in loaded.model.parameters():
            if param.ndim == 2:
                param.copy_(torch.randn(param.shape, generator=generator) / param.shape[-1] ** 0.5)
    return loaded


def tiny_gpt2():
    """A decoder-only model with ABSOLUTE position embeddings: the one kind where left padding
    without the right position ids shows (Llama's rotary positions are relative, so a row's
    constant offset cancels)."""
    from types import SimpleNamespace

    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = build_tokenizer()
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_embd=64,
        n_layer=2,
        n_head=4,
        n_positions=256,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    return livened(SimpleNamespace(model=GPT2LMHeadModel(config).eval(), tokenizer=tokenizer))
