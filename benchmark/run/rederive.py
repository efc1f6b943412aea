"""`promot-bench export RESULT.json --to DIR`: a finished cell's tuned model, re-derived.

A finished run deletes its work folder (its checkpoints are large), so a cell run without
`--save-model` keeps no weights. Training is deterministic for one seed, code and machine, so
export trains the cell again from the command its result records (in a scratch folder inside
DIR), checks the stripped weights' sha256 — and each soft prompt's — against the result's
`weights_sha256` and `soft_prompt_sha256`, and only then writes what `--save-model` writes:
`DIR/seed<k>.model/` and, for tuners with a soft prompt or adapter, `DIR/seed<k>.peft/`.
Other code, or a CPU whose float results differ in the last bits, gives other weights: export
says so and writes nothing. It re-runs training only, not the evaluations.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path

from promot_bench.errors import RunError, UsageError
from promot_bench.evaluate import evaluation
from promot_bench.models import export as folders
from promot_bench.models import specs
from promot_bench.run import fitting, record, runner
from promot_bench.run.options import RunOptions
from promot_bench.store import provenance, result_file


def read_result(path: Path) -> dict:
    try:
        return result_file.read(path)
    except result_file.UnreadableResult as exc:
        raise UsageError(str(exc)) from None


def check_reproducible(result: dict, path: Path) -> None:
    """Refuse, before training, what cannot give the recorded weights here."""
    theirs = (result.get("code") or {}).get("source_sha256")
    ours = provenance.code_identity()["source_sha256"]
    if theirs != ours:
        commit = (result.get("code") or {}).get("commit") or "unknown"
        raise RunError(
            f"{path} was made by other code (source {str(theirs)[:12]}, commit {commit}; this is "
            f"{ours[:12]}): install that commit to re-derive its weights"
        )
    if result.get("training_processes", 1) != 1:
        raise RunError(
            f"{path} was trained by {result['training_processes']} processes; export re-trains "
            "in one, which sums gradients in another order"
        )


def recorded_options(result: dict, parse_command) -> RunOptions:
    """The options that made `result`: recorded as data since schema version 3; before it,
    read from its command line by `parse_command` (the command line's own parser)."""
    if result["schema_version"] >= 3:
        return RunOptions.from_record(result["options"])
    return parse_command(result["command"])


def export(result_path: Path, to: Path, options_for, progress: bool = True) -> dict:
    """Re-train the cell of `result_path`, check its hashes, save its folders under `to`;
    returns what was saved (export.record's form, paths relative to `to`). `options_for` turns
    an older result's command into the runner's options (the command line's parser:
    `cli.recorded_run_options`)."""
    result = read_result(result_path)
    check_reproducible(result, result_path)
    options = recorded_options(result, options_for)
    try:
        to.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".export-", dir=to))
    except OSError as exc:
        raise UsageError(f"cannot write to --to {to}: {exc.strerror or exc}") from None
    try:
        p = runner.plan(dataclasses.replace(options, out=scratch, save_model=False))
        loaded = specs.load(p.spec)
        manager = evaluation.task_manager(p.options.include_path, defaults=p.lm_eval_defaults)
        tuned, attached = fitting.fit(p, loaded, manager, progress)
        folders.save_adapters(
            scratch / "peft", tuned, attached
        )  # before stripping unloads lora-then-ft's
        stripped = tuned.stripped()
        mismatch = []
        if record.weights_hash(stripped) != result["weights_sha256"]:
            mismatch.append("weights")
        for t, expected in (result.get("soft_prompt_sha256") or {}).items():
            if (
                t not in attached
                or attached[t].soft_prompt is None
                or record.tensor_hash(attached[t].soft_prompt.weight) != expected
            ):
                mismatch.append(f"soft prompt of {t}")
        if mismatch:
            raise RunError(
                f"re-training {result_path} gave other {', '.join(mismatch)} than it records "
                "(another CPU's float results can differ in the last bits); nothing written"
            )
        folders.save_model(scratch / "model", stripped, loaded.tokenizer)
        return folders.place(scratch, to, p.options.seed)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
