"""What the run, sweep and export tests share: options for a run on a tiny model, and training
examples for a tuner."""

import json
from pathlib import Path

from promot_bench.run.options import RunOptions
from promot_bench.train.train_data import Example
from promot_bench.tuners import FitContext, load_settings
from promot_bench.tuners.peft_family import PeftOptions

EXAMPLES = [
    Example(
        f"Paris is in France. question: Paris is in country {i}. Is it true or false? answer:",
        "True" if i % 2 else "False",
    )
    for i in range(12)
]


def options(model_dir, out, tuner="promot", keep_best=False, **kw):
    # v1: its two targets and eight probe families; tests of v2 say suite="v2"
    values = dict(
        tuner=tuner,
        train="nli",
        model=str(model_dir),
        steps=2,
        limit=2,
        out=out,
        suite="v1",
        overrides={
            "batch_size": "2",
            "prompt_length": "3",
            "checkpoint_every": "1",
            "prompt_checkpoint_every": "1",
            "keep_best": str(keep_best),
        },
    )
    values.update(kw)
    return RunOptions(**values)


def saved_result(**fields) -> dict:
    """A finished cell's result as a run writes it (a committed pt cell of the 135 M model, kept
    in tests/fixtures so it meets the result schema), with `fields` replaced."""
    path = Path(__file__).resolve().parent.parent / "fixtures" / "result.json"
    return {**json.loads(path.read_text()), **fields}


# a PEFT method's stage, two steps on the tiny model
PEFT_TINY = {"batch_size": "2", "checkpoint_every": "1", "keep_best": "false", "peft_steps": "2"}


def peft_context(loaded, folder, **overrides) -> FitContext:
    """A fit of a PEFT tuner on `EXAMPLES` with the cpu-small preset at `PEFT_TINY`."""
    settings = load_settings("cpu-small", {**PEFT_TINY, **overrides})
    return FitContext(
        loaded.model,
        loaded.tokenizer,
        EXAMPLES,
        settings.train,
        folder,
        progress=False,
        options=settings.of(PeftOptions),
    )
