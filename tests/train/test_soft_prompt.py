"""The soft prompt: initialisation, attaching it to a batch exactly (any padding, both
architectures), and its file."""

import pytest
import torch

from promot_bench.errors import RunError, UsageError
from promot_bench.train.soft_prompt import SoftPrompt

TEXTS = [
    "Q: What is the capital of France? A: Paris",
    "Translate English",
    "The quick brown fox jumps",
]
ATOL = 1e-5


def batch(tokenizer, texts, side):
    tokenizer.padding_side = side
    return tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)


def alone(tokenizer, text):
    return tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]


def test_constructors(llama):
    model, embed = llama.model, llama.model.get_input_embeddings().weight
    a, b = SoftPrompt.from_vocab(model, 6, seed=1), SoftPrompt.from_vocab(model, 6, seed=1)
    assert (a.length, a.hidden_size, a.weight.dtype) == (6, embed.shape[1], embed.dtype)
    assert torch.equal(a.weight, b.weight) and a.weight.requires_grad
    assert not torch.equal(a.weight, SoftPrompt.from_vocab(model, 6, seed=2).weight)
    # Every row is some token's embedding.
    assert all(any(torch.equal(row, e) for e in embed) for row in a.weight)

    ids = llama.tokenizer("Paris", add_special_tokens=False)["input_ids"]
    text = SoftPrompt.from_text(model, llama.tokenizer, "Paris", 2 * len(ids) + 1)
    expected = embed[(ids * 3)[: 2 * len(ids) + 1]]
    assert torch.equal(text.weight, expected)  # repeated, then cut
    assert SoftPrompt.from_text(model, llama.tokenizer, "Paris", 1).length == 1

    noise = SoftPrompt.random(model, 64, seed=0)
    assert torch.equal(noise.weight, SoftPrompt.random(model, 64, seed=0).weight)
    assert noise.weight.std().item() == pytest.approx(embed.std().item(), rel=0.1)


def test_constructors_refuse(llama):
    with pytest.raises(UsageError):
        SoftPrompt.from_text(llama.model, llama.tokenizer, "", 4)
    with pytest.raises(UsageError):
        SoftPrompt.from_vocab(llama.model, 0)
    with pytest.raises(UsageError, match="hidden size"):
        SoftPrompt(torch.zeros(3, 7)).prepend(llama.model, alone(llama.tokenizer, "Paris"))


@torch.no_grad()
@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_right_padded_batch_equals_each_row_alone(arch, request):
    loaded = request.getfixturevalue(arch)
    model, tok = loaded.model, loaded.tokenizer
    prompt = SoftPrompt.from_vocab(model, 5, seed=0)
    enc = batch(tok, TEXTS, "right")
    kwargs = prompt.prepend(model, enc["input_ids"], enc["attention_mask"])
    assert "position_ids" not in kwargs  # right padding: a plain concatenation
    assert torch.equal(kwargs["inputs_embeds"][:, :5], prompt.weight.expand(len(TEXTS), -1, -1))
    assert kwargs["attention_mask"][:, :5].all()
    logits = model(**kwargs).logits
    for row, text in enumerate(TEXTS):
        expected = model(**prompt.prepend(model, alone(tok, text))).logits[0]
        assert torch.allclose(logits[row, : expected.shape[0]], expected, atol=ATOL)


@torch.no_grad()
@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_left_padded_batch_equals_each_row_alone(arch, request):
    loaded = request.getfixturevalue(arch)
    model, tok = loaded.model, loaded.tokenizer
    prompt = SoftPrompt.from_vocab(model, 5, seed=0)
    enc = batch(tok, TEXTS, "left")
    kwargs = prompt.prepend(model, enc["input_ids"], enc["attention_mask"])
    logits = model(**kwargs).logits
    width = kwargs["inputs_embeds"].shape[1]
    for row, text in enumerate(TEXTS):
        expected = model(**prompt.prepend(model, alone(tok, text))).logits[0]
        start = width - expected.shape[0]  # the pads come first, then prompt and tokens
        assert torch.equal(kwargs["inputs_embeds"][row, start : start + 5], prompt.weight)
        assert torch.equal(kwargs["position_ids"][row, start:], torch.arange(expected.shape[0]))
        assert not kwargs["attention_mask"][row, :start].any()
        assert torch.allclose(logits[row, start:], expected, atol=ATOL)


def test_labels_are_ignored_over_the_prompt_and_the_prompt_gets_gradients(llama):
    model, tok = llama.model, llama.tokenizer
    prompt = SoftPrompt.from_vocab(model, 4, seed=0)
    for side in ("right", "left"):
        enc = batch(tok, TEXTS, side)
        labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
        kwargs = prompt.prepend(model, enc["input_ids"], enc["attention_mask"], labels)
        prompt_cols = kwargs["attention_mask"].bool() & (kwargs["labels"] == -100)
        assert prompt_cols.sum(-1).tolist() == [4] * len(TEXTS)
        # The real tokens' labels are kept, in order.
        kept = [r[r != -100].tolist() for r in kwargs["labels"]]
        assert kept == [r[r != -100].tolist() for r in labels]
    model.zero_grad()
    model(**kwargs).loss.backward()
    assert prompt.weight.grad is not None and prompt.weight.grad.abs().sum() > 0
    model.zero_grad()


@torch.no_grad()
@pytest.mark.parametrize("side", ["right", "left"])
def test_encoder_decoder_prompt_goes_to_the_encoder(t5, side):
    model, tok = t5.model, t5.tokenizer
    prompt = SoftPrompt.from_vocab(model, 5, seed=0)
    enc = batch(tok, TEXTS, side)
    labels = alone(tok, "Paris").repeat(len(TEXTS), 1)
    kwargs = prompt.prepend(model, enc["input_ids"], enc["attention_mask"], labels)
    assert kwargs["labels"] is labels and "position_ids" not in kwargs
    assert kwargs["inputs_embeds"].shape[1] == enc["input_ids"].shape[1] + 5
    logits = model(**kwargs).logits  # decoder logits, one per label
    for row, text in enumerate(TEXTS):
        expected = model(**prompt.prepend(model, alone(tok, text), labels=labels[:1])).logits[0]
        assert torch.allclose(logits[row], expected, atol=ATOL)
    # Decoder inputs pass through untouched.
    passthrough = prompt.prepend(
        model, enc["input_ids"], enc["attention_mask"], decoder_input_ids=labels
    )
    assert passthrough["decoder_input_ids"] is labels


def test_save_load_round_trip(tmp_path, llama):
    prompt = SoftPrompt.from_vocab(llama.model, 7, seed=3)
    path = prompt.save(tmp_path / "sub" / "prompt.safetensors")
    loaded = SoftPrompt.load(path)
    assert torch.equal(loaded.weight, prompt.weight) and loaded.weight.dtype == prompt.weight.dtype
    assert (loaded.length, loaded.hidden_size, loaded.init, loaded.seed) == (7, 64, "vocab", 3)
    assert [p.name for p in path.parent.iterdir()] == ["prompt.safetensors"]  # no temp file left
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        assert list(handle.keys()) == ["soft_prompt"]
        assert handle.metadata()["length"] == "7"


def test_damaged_files_raise_a_clear_error(tmp_path, llama):
    from safetensors.torch import save_file

    good = SoftPrompt.from_text(llama.model, llama.tokenizer, "Paris", 4).save(
        tmp_path / "good.safetensors"
    )
    data = good.read_bytes()
    truncated, garbage, other = (
        tmp_path / "truncated.st",
        tmp_path / "garbage.st",
        tmp_path / "other.st",
    )
    truncated.write_bytes(data[: len(data) // 2])
    garbage.write_bytes(b"\x00not a safetensors file")
    save_file({"something_else": torch.zeros(2, 2)}, str(other))
    for path in (truncated, garbage, other, tmp_path / "missing.st"):
        with pytest.raises(RunError, match=str(path.name)):
            SoftPrompt.load(path)


@torch.no_grad()
def test_a_prompt_set_gives_each_row_its_own_tasks_prompt(llama):
    from promot_bench.train.soft_prompt import PromptSet, for_task

    model, tok = llama.model, llama.tokenizer
    prompts = {
        "a": SoftPrompt.from_vocab(model, 5, seed=0),
        "b": SoftPrompt.from_vocab(model, 5, seed=1),
    }
    both = PromptSet(prompts)
    tasks = ["b", "a", "b"]
    enc = batch(tok, TEXTS, "right")
    logits = model(
        **both.prepend(model, enc["input_ids"], enc["attention_mask"], tasks=tasks)
    ).logits
    for row, (text, task) in enumerate(zip(TEXTS, tasks)):
        expected = model(**prompts[task].prepend(model, alone(tok, text))).logits[0]
        assert torch.allclose(logits[row, : expected.shape[0]], expected, atol=ATOL)
    assert for_task(both, "a") is prompts["a"] and for_task(prompts["b"], "a") is prompts["b"]
    assert set(both.tensors()) == {"soft_prompt.a", "soft_prompt.b"}
    with pytest.raises(RunError, match="no soft prompt for task"):
        both.prepend(model, enc["input_ids"], enc["attention_mask"], tasks=["a", "c", "a"])
    with pytest.raises(UsageError):
        PromptSet({"a": prompts["a"], "c": SoftPrompt.from_vocab(model, 3)})  # lengths differ
