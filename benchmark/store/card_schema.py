"""The probe card file (`promot-bench probes`: results/probes/<model>/<suite>-<k>shot.json),
typed: pydantic models of what `run/probe_card.py` writes. The JSON schema is published at
docs/card.schema.json (generated from these models: `python -m promot_bench.store.card_schema`;
a test keeps the file equal to them); every committed card is checked against it in CI, and a
card is checked before it is written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field

from promot_bench.store.result import Code, ModelIdentity, first_problem


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Gate(_Record):
    """The rule a probe passes by (evaluate/probes.py)."""

    max_bad_rate: float
    min_headroom_se: float
    rule: str


class Probe(_Record):
    """One probe: its kind, the pretrained model's score, its trivial baselines, its headroom
    over the best of them in standard errors, its empty and off-format output rates."""

    kind: Optional[str]  # None: neither its YAML nor its outputs tell (a note says so)
    metric: str
    scale: float  # the score's scale to 0-100
    n: int
    pretrained: float
    stderr: Optional[float]
    stderr_from: str
    baselines: dict[str, float]
    best_trivial: Optional[float]
    best_trivial_name: str
    headroom: Optional[float]
    headroom_se: Optional[float]
    empty_rate: float
    off_format_rate: float
    format: str
    labels: Optional[list[str]]
    passes: bool
    notes: list[str]


class Summary(_Record):
    probes: int
    passing: int
    all_pass: bool
    headroom_mean: Optional[float]
    failing: list[str]


class ProbeCard(_Record):
    schema_version: int = Field(ge=1)
    command: str
    invoked_as: str
    created: str
    code: Code
    git_commit: Optional[str]
    versions: dict[str, str]
    machine: str
    model: ModelIdentity
    suite: Optional[str]  # None: an eval group given by name (--tasks), not a suite
    eval_group: str
    shots: int
    limit: Optional[int]
    seed: int
    eval_batch_size: Optional[int]
    data_hash: Optional[str]
    suite_version: str
    gate: Gate
    probes: dict[str, Probe]
    summary: Summary
    timings: dict[str, float]


SCHEMA_PATH = Path("docs") / "card.schema.json"


def problem(card) -> str | None:
    """None where `card` (parsed JSON) is a probe card; else its first problem, one line."""
    return first_problem(ProbeCard, card)


def schema_text() -> str:
    return json.dumps(ProbeCard.model_json_schema(), indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":  # regenerate docs/card.schema.json (from the checkout's root)
    SCHEMA_PATH.write_text(schema_text())
    print(f"wrote {SCHEMA_PATH}")
