"""The run result file, typed: pydantic models of what `run/record.py` writes. Its JSON schema is
published at docs/result.schema.json (generated from these models: `python -m
promot_bench.store.result`; a test keeps the file equal to them), and every committed result is
checked against it in CI.

The top level and the records whose keys we choose forbid unknown keys, so a field written
without being declared here fails the check; maps keyed by task name are typed by their values.
Fields added since schema version 2 without a bump are optional: older results lack them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Code(_Record):
    version: str
    source_sha256: str
    commit: Optional[str] = None
    commit_from: Optional[str] = None  # where the commit came from (a checkout, an install)


class ModelIdentity(_Record):
    spec: str  # as given (--model)
    name: str  # as folders and tables name it
    identity: str  # sha256 over the weights and tokenizer


class Scores(_Record):
    """One task's score on one side (before or after tuning, or a target's)."""

    metric: str
    score: float
    stderr: Optional[float]
    n: int
    aggregation: str
    higher_is_better: bool
    gold_logprob: Optional[float] = None  # mean per-token log-prob of the gold answers (nats)
    kl: Optional[float] = None  # items' mean KL from the pretrained model at the gold's positions
    depends_on_seed: Optional[bool] = None  # whether the seed can change an output (the cache key)
    # what re-creates every output with transformers alone: stop strings, max_gen_toks, BOS,
    # chat template, shots and the demonstration rule
    decoding: Optional[dict[str, Any]] = None


class Attached(_Record):
    soft_prompt: bool  # virtual tokens attached: a soft prompt, or a key/value prefix
    kv_prefix: Optional[bool] = None  # keys and values in front of the cache (prefix tuning)
    demonstration: Optional[str] = None  # the text attached before each prompt ("" for none)
    prefix: Optional[str] = None  # its name before schema version 3


class TargetEntry(_Record):
    pretrained: Scores
    tuned: Scores
    attached: Attached


class TargetMean(_Record):
    """Several targets (multi-task, sequential): the mean of their own scores."""

    metric: str
    score: float
    stderr: Optional[float] = None


class Target(_Record):
    pretrained: Scores | TargetMean
    tuned: Scores | TargetMean
    attached: Optional[Attached] = None  # one target's; several targets have theirs in per_target
    per_target: Optional[dict[str, TargetEntry]] = None


class Interval(_Record):
    low: float
    high: float
    significant: bool


class Delta(_Record):
    """The paired interval over items of after - before, one task or the mean."""

    delta: float
    low: float
    high: float
    significant: bool
    se: Optional[float] = None
    method: Optional[str] = None


class Paired(_Record):
    """A per-item rate or value before and after, with the change's paired interval."""

    before: float
    after: float
    delta: float
    ci: Interval


class Mean(_Record):
    before: float
    after: float
    delta: float


class FormatRule(_Record):
    labels: list[str]
    language: Optional[str]
    rule: str
    scale: str


class Flips(BaseModel):
    """Items lost and gained on one probe, or over all of them ("total": no kind); examples are
    shown, their keys vary by kind."""

    model_config = ConfigDict(extra="allow")
    kind: Optional[str] = None
    n: int
    lost: int
    gained: int
    unchanged: int


class PerDocument(_Record):
    before: list[float]
    after: list[float]


class HeldoutCE(_Record):
    """Mean per-token cross-entropy (nats) on the held-out text, before and after
    (evaluate/heldout.py), its change's paired interval over documents, and each document's."""

    before: float
    after: float
    delta: float
    ci: Interval
    text: str
    sha256: str
    tokens: int
    per_document: PerDocument


class AfterAttached(_Record):
    """The eval tasks with the target's prompt attached (prompt-learning tuners), as PEFT's method
    comparison scores them: each task's scores, their mean, the mean's change from before with its
    paired interval over items, and the collapse rate."""

    scores: dict[str, Scores]
    mean: float
    delta_ci: Delta
    collapse: Optional[dict[str, Paired]] = None


class DoseBudget(_Record):
    stage: str
    steps: int
    examples: int
    of_steps: int
    fractions: str


class StageBudget(_Record):
    name: str
    steps: int
    examples: int
    kept_step: int
    epochs: dict[str, float]


class Budget(_Record):
    label: Optional[str]  # None: the preset's own
    keep_best: bool
    batch: int
    train_examples: dict[str, int]
    examples_per_stage: int
    stages: list[StageBudget]
    dose: Optional[DoseBudget] = None  # a dose checkpoint of one run


class Stage(_Record):
    """One training stage's report (train/training.py's StageReport)."""

    name: str
    steps: int
    seconds: float
    tokens: int
    final_loss: float
    best_step: Optional[int] = None
    best_score: Optional[float] = None
    resumed_from: int = 0
    history: list[list[float]]  # [step, loss]
    grad_norms: list[float]
    validation: list[list[float]]  # [step, score]
    batches_sha256: Optional[str] = None


class LearningRate(_Record):
    setting: str
    value: float
    label: Optional[str]


class RunOptionsRecord(_Record):
    """The run's options (run/options.py's RunOptions, less what the user typed)."""

    tuner: str
    train: str
    model: Optional[str]
    suite: str
    shots: int
    seed: int
    preset: str
    steps: Optional[int]
    lr: Optional[float]
    limit: Optional[int]
    out: str
    overrides: dict[str, str]
    eval_tasks: Optional[str]
    include_path: list[str]
    save_model: bool


class RunResult(_Record):
    """A finished cell: `<out>/runs/<model>/<suite>/<target>/<tuner>/<budget>/seed<k>.json`."""

    schema_version: int = Field(ge=2)
    command: str  # the run's own command line (the settings that re-create it, in words)
    options: Optional[RunOptionsRecord] = None  # the same as data, since schema version 3
    invoked_as: str  # what the user typed (a sweep, a run)
    created: str
    code: Code
    git_commit: Optional[str]
    versions: dict[str, str]
    machine: str
    training_processes: int
    training_parallel: str
    model: ModelIdentity
    suite: str
    eval_group: str
    shots: int
    seed: int
    limit: Optional[int]
    eval_batch_size: Optional[int] = None
    train: str
    training: str  # single, multi, sequential
    target_task: str
    target_tasks: list[str]
    tuner: str
    preset: str
    config: dict[str, Any]  # the settings (validated by config.py when they were loaded)
    budget: Budget
    learning_rate: Optional[LearningRate] = None
    data_hash: str
    suite_version: str
    timings: dict[str, float]
    stages: list[Stage]
    target: Target
    before: dict[str, Scores]
    after: dict[str, Scores]
    delta: dict[str, float]
    mean: Mean
    delta_ci: dict[str, Delta]
    mde: Optional[float] = None
    collapse: Optional[dict[str, Paired]] = None
    breakdown: Optional[dict[str, Paired]] = None
    collapse_format: Optional[FormatRule] = None
    gold_logprob: Optional[dict[str, Paired]] = None
    heldout_ce: Optional[HeldoutCE] = None
    # per generative probe and mean: KL(pretrained || tuned) at the gold's positions (nats)
    kl: Optional[dict[str, Paired]] = None
    flips: dict[str, Flips]
    after_attached: Optional[AfterAttached] = None  # prompt-learning tuners (pt, peft:<method>)
    weights_sha256: str
    after_is_baseline: bool
    soft_prompt_sha256: Optional[dict[str, str]]
    samples: str
    saved: Optional[dict[str, dict[str, Any]]] = None  # --save-model: folder and file hashes

    @model_validator(mode="after")
    def _options_since_3(self):
        if self.schema_version >= 3 and self.options is None:
            raise ValueError("a result of schema version 3 or later records its options")
        return self


class LoadedResult(dict):
    """A result file's content, exactly as written, with what the reader found beside it as
    attributes (never keys, so nothing read back looks as if the run had written it)."""

    def __init__(self, content: dict, samples_file: Path | None = None):
        super().__init__(content)
        self.samples_file = samples_file  # the run's samples, where its file is found
        # the data version, set where its eval group also has results on other data
        self.data_version: str | None = None


SCHEMA_PATH = Path("docs") / "result.schema.json"


def problem(result) -> str | None:
    """None where `result` (parsed JSON) is a run result; else its first problem, one line."""
    return first_problem(RunResult, result)


def first_problem(model: type[BaseModel], value) -> str | None:
    """None where `value` (parsed JSON) meets `model`; else its first problem, one line."""
    if not isinstance(value, dict):
        return "not a JSON object"
    try:
        model.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        more = exc.error_count() - 1
        return f"{where}: {first['msg']}" + (f", and {more} more" if more else "")
    return None


def schema_text() -> str:
    return json.dumps(RunResult.model_json_schema(), indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":  # regenerate docs/result.schema.json (from the checkout's root)
    SCHEMA_PATH.write_text(schema_text())
    print(f"wrote {SCHEMA_PATH}")
