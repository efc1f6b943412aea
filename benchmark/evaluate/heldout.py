"""Forgetting as PEFT's method comparison measures it: the change in the model's mean per-token
cross-entropy on held-out general English text, after tuning minus before (nats; higher is
worse), on the weights alone — the "before" side is the pretrained model with nothing attached,
the "after" side the tuned weights with any soft prompt stripped, as the eval tasks are scored.

The text: 100 English Wikipedia articles shipped in heldout_text/ (heldout_build.py says where
they come from and by which rule; docs/heldout.md the licence). Each document is tokenized as
the tokenizer does by default (its BOS where it adds one) and cut to its first MAX_TOKENS
tokens; its value is the mean cross-entropy of each token given those before it (labels shifted
by one, the first token unscored). The unit is the document: the value is the mean over
documents (97 of the 100 are MAX_TOKENS long, so it is within rounding of PEFT's mean over all
tokens), and its 95% interval is paired over documents. `--limit N` scores the first N."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from promot_bench.errors import RunError
from promot_bench.evaluate.statistics import paired_means

FOLDER = Path(__file__).parent / "heldout_text"
MAX_TOKENS = 512
BATCH_SIZE = 2  # of 1, 2, 4 and 8, 1 and 2 were fastest on 2 CPU cores (10.1 s against 14.0 s)


@dataclass(frozen=True)
class Text:
    name: str
    sha256: str
    documents: list[str]


def load_text(folder: Path = FOLDER) -> Text:
    """The shipped text, checked against its manifest; a missing or damaged one is refused in
    one line."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        body = (folder / f"{manifest['name']}.jsonl").read_bytes()
    except (OSError, ValueError, KeyError) as exc:
        raise RunError(f"held-out text {folder}: missing or unreadable ({exc})") from None
    if hashlib.sha256(body).hexdigest() != manifest.get("sha256"):
        raise RunError(
            f"held-out text {folder}: corrupt (its sha256 differs from manifest.json's); "
            "reinstall promot-bench"
        )
    documents = [json.loads(line)["text"] for line in body.decode("utf-8").splitlines()]
    return Text(manifest["name"], manifest["sha256"], documents)


def cross_entropies(model, tokenizer, documents: list[str]) -> dict:
    """Each document's mean per-token cross-entropy (nats) and token count under `model`."""
    import torch

    values, counts = [], []
    device = next(model.parameters()).device
    for start in range(0, len(documents), BATCH_SIZE):
        # cut here, not by the tokenizer: its truncation setting would stay on the tokenizer
        # (and in the tokenizer.json a saved model writes)
        encoded = [
            tokenizer(d)["input_ids"][:MAX_TOKENS] for d in documents[start : start + BATCH_SIZE]
        ]
        # right-padded by hand (position ids stay those of an unpadded document, whatever the
        # tokenizer's padding side or pad token); pads are masked out of attention and loss
        width = max(len(ids) for ids in encoded)
        ids = torch.zeros((len(encoded), width), dtype=torch.long)
        attention = torch.zeros((len(encoded), width), dtype=torch.long)
        for row, tokens in enumerate(encoded):
            ids[row, : len(tokens)] = torch.tensor(tokens)
            attention[row, : len(tokens)] = 1
        batch = {"input_ids": ids.to(device), "attention_mask": attention.to(device)}
        with torch.no_grad():
            logits = model(**batch).logits.float()
        labels = batch["input_ids"][:, 1:]
        mask = batch["attention_mask"][:, 1:].bool() & batch["attention_mask"][:, :-1].bool()
        # flattened, as transformers' own loss is (a (batch, vocab, length) view is ~6x slower)
        losses = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]), labels.reshape(-1), reduction="none"
        ).view(labels.shape)
        for row in range(labels.shape[0]):
            scored = losses[row][mask[row]]
            values.append(float(scored.mean()))
            counts.append(int(scored.numel()))
    return {"documents": values, "tokens": counts}


def score(model, tokenizer, text: Text, limit: int | None = None) -> dict:
    """What a side of the result keeps: the text's identity and each document's value."""
    documents = text.documents[:limit] if limit else text.documents
    return {
        "text": text.name,
        "sha256": text.sha256,
        **cross_entropies(model, tokenizer, documents),
    }


def summary(before: dict, after: dict, seed: int = 0) -> dict:
    """The result's `heldout_ce`: before, after, their change with its paired interval over
    documents, the text's identity, and both sides' values per document (to re-derive it)."""
    if (before["text"], before["sha256"]) != (after["text"], after["sha256"]):
        raise RunError("held-out text: the two sides were scored on different texts")
    sides = {"ce": (before["documents"], after["documents"])}
    entry = paired_means(sides, seed=seed)["ce"]
    return {
        **entry,
        "text": before["text"],
        "sha256": before["sha256"],
        "tokens": sum(before["tokens"]),
        "per_document": {"before": before["documents"], "after": after["documents"]},
    }
