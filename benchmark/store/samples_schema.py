"""The samples file, typed: pydantic models of one scored item (what readers of
evaluate/samples.py give back) and of the lines of a packed file (what `pack` writes). The JSON
schema is published at docs/samples.schema.json (generated from these models: `python -m
promot_bench.store.samples_schema`; a test keeps the file equal to them), and every committed
samples file is checked against it in CI, its lines and its items."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError
from pydantic.json_schema import models_json_schema

Phase = Literal["before", "after", "target_pretrained", "target_tuned", "after_attached"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Item(_Record):
    """One item one model answered: its prompt, the output and the score it got."""

    phase: Phase
    task: str
    doc_id: int
    prompt: Optional[str] = None  # the text the model saw (None: the lm-eval request had none)
    output: str
    gold: Any  # the task's own answer (a string for every task the suites have today)
    score: Optional[float]  # the task's metric for this item (None: the item is not scored)
    gold_logprob: Optional[float] = None  # mean per-token log-prob of the gold answer (nats)
    kl: Optional[float] = None  # mean KL from the pretrained model at the gold's positions
    pair: Optional[list[Any]] = None  # a paired item's two documents (multi-target runs)


class Header(_Record):
    """A packed file's first line."""

    packed: Literal[2]


class SharedPhase(_Record):
    """A phase the same for every run sharing its inputs: its items are in a shared file."""

    phase: Phase
    from_: str = Field(alias="from")  # the shared file, relative to this one


class Block(_Record):
    """A run of items of one phase, task and set of keys, as columns; a key in `keys` without a
    column repeats its reference phase's item (an "after" item's prompt: its "before" item's)."""

    phase: Phase
    task: str
    keys: list[str]
    columns: dict[str, list[Any]]


class PackedLine(RootModel[Union[Header, SharedPhase, Block]]):
    pass


class FirstFormatHeader(_Record):
    """The first packed format's first line (files packed before format 2; still read)."""

    before_from: str


SCHEMA_PATH = Path("docs") / "samples.schema.json"


def problem(lines: list[dict], items: list[dict]) -> str | None:
    """None where a samples file's parsed `lines` and its items (as `samples.items` gives them
    back) meet the models; else the first problem, one line."""
    checks: list[tuple[str, Any, Any]] = []
    if lines and "packed" in lines[0]:
        checks += [(f"line {n}", PackedLine, line) for n, line in enumerate(lines, 1)]
        checks += [(f"line {n}", Header, line) for n, line in enumerate(lines[:1], 1)]
    elif lines and "before_from" in lines[0]:
        checks.append(("line 1", FirstFormatHeader, lines[0]))
    checks += [(f"item {n}", Item, item) for n, item in enumerate(items, 1)]
    for where, model, value in checks:
        try:
            model.model_validate(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first["loc"])
            return f"{where}: {field}: {first['msg']}"
    return None


def schema_text() -> str:
    _, schema = models_json_schema(
        [(Item, "validation"), (PackedLine, "validation"), (FirstFormatHeader, "validation")],
        title="promot-bench samples file",
        description=__doc__.split("\n\n")[0].replace("\n", " "),
    )
    return json.dumps(schema, indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":  # regenerate docs/samples.schema.json (from the checkout's root)
    SCHEMA_PATH.write_text(schema_text())
    print(f"wrote {SCHEMA_PATH}")
