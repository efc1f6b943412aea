"""The held-out text's cross-entropy (evaluate/heldout.py): the shipped text is what its
manifest says, a damaged one is refused, and the value is the shifted-label loss per document."""

import json
import shutil

import pytest

from promot_bench.errors import RunError
from promot_bench.evaluate import heldout


def test_the_shipped_text_is_its_manifests_and_meets_the_rule():
    text = heldout.load_text()
    manifest = json.loads((heldout.FOLDER / "manifest.json").read_text())
    assert text.name == manifest["name"] and len(text.documents) == manifest["documents"] == 100
    words = [len(d.split()) for d in text.documents]
    assert min(words) >= manifest["rule"]["min_words"] and sum(words) == manifest["words"]
    assert len(set(text.documents)) == 100  # a hundred articles, none twice


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (lambda f: f.write_bytes(f.read_bytes().replace(b"Anarchism", b"Anarchisn", 1)), "corrupt"),
        (lambda f: f.unlink(), "missing or unreadable"),
    ],
)
def test_a_damaged_or_missing_text_is_refused_in_one_line(damage, said, tmp_path):
    folder = tmp_path / "heldout_text"
    shutil.copytree(heldout.FOLDER, folder)
    damage(next(folder.glob("*.jsonl")))
    with pytest.raises(RunError, match=said) as refused:
        heldout.load_text(folder)
    assert "\n" not in str(refused.value)


def test_each_documents_value_is_its_shifted_label_loss(llama, monkeypatch):
    """Batched and right-padded, cut at MAX_TOKENS: each document's value is the model's own
    loss with labels = its (cut) input, as transformers shifts them."""
    import torch

    model, tokenizer = llama.model, llama.tokenizer
    monkeypatch.setattr(heldout, "MAX_TOKENS", 12)
    monkeypatch.setattr(heldout, "BATCH_SIZE", 2)
    documents = [
        "Q: What is the capital of France? A: Paris. " * 3,  # longer than 12 tokens: cut
        "The quick brown fox",
        "Translate English to French: United Kingdom",
    ]
    got = heldout.cross_entropies(model, tokenizer, documents)
    # the tokenizer is left as it was: no truncation setting for later calls, or a saved model
    assert tokenizer.backend_tokenizer.truncation is None
    for document, value, count in zip(documents, got["documents"], got["tokens"]):
        ids = tokenizer(document, truncation=True, max_length=12, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            expected = model(input_ids=ids, labels=ids).loss
        assert value == pytest.approx(float(expected), abs=1e-5) and count == ids.shape[1] - 1
    assert got["tokens"][0] == 11  # cut at 12 tokens, the first unscored


def test_the_summary_pairs_documents_and_refuses_two_texts():
    before = {"text": "t", "sha256": "s", "documents": [2.0, 3.0, 4.0], "tokens": [5, 5, 5]}
    after = {**before, "documents": [2.5, 3.5, 4.0]}
    entry = heldout.summary(before, after)
    assert entry["before"] == 3.0 and entry["after"] == pytest.approx(10 / 3)
    assert entry["delta"] == pytest.approx(1 / 3) and entry["tokens"] == 15
    assert entry["ci"]["low"] < entry["delta"] < entry["ci"]["high"]
    assert entry["per_document"] == {"before": [2.0, 3.0, 4.0], "after": [2.5, 3.5, 4.0]}
    same = heldout.summary(before, before)
    assert same["delta"] == 0 and not same["ci"]["significant"]
    with pytest.raises(RunError, match="different texts"):
        heldout.summary(before, {**after, "sha256": "other"})


@pytest.mark.slow  # about 10 s here (parsing the dump's wiki markup): the fast lane's rule
def test_a_rebuild_from_the_pinned_source_gives_the_shipped_bytes(tmp_path):
    """The build-data extra (gensim's wheel for its Wikipedia excerpt, mwparserfromhell) remakes
    the shipped text byte for byte, and its manifest whole."""
    from promot_bench.evaluate import heldout_build

    made = heldout_build.build(tmp_path)
    shipped = json.loads((heldout.FOLDER / "manifest.json").read_text())
    assert made == shipped
    assert (tmp_path / f"{made['name']}.jsonl").read_bytes() == (
        heldout.FOLDER / f"{made['name']}.jsonl"
    ).read_bytes()
