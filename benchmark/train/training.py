"""The one training loop every tuner uses (read it top to bottom: batch, forward, loss,
backward, clip, step, log, checkpoint).

A tuner describes each stage by which named tensors train (model weights, a soft prompt, a
LoRA adapter) and whether a soft prompt is prepended; the loop never branches on a tuner's
name. Stages checkpoint into their own folder: `latest.pt` (everything needed to resume
bit-exactly), `best.safetensors` (the trainable tensors at the best validation score) and
`final.safetensors` + `done.json` once the stage is over, so a rerun skips a finished stage.

A stage trained with `extendable` keeps its `latest.pt` when it finishes, so the same stage asked
for more steps later continues from where it stopped: a run of 28 steps, then 112, then 448 is
one training path, and (under a schedule whose rate at a step does not depend on the stage's
length) each checkpoint holds exactly what a separate run of that many steps would.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from promot_bench import processes
from promot_bench.config import TrainConfig
from promot_bench.console import Phase
from promot_bench.errors import RunError
from promot_bench.store import faults
from promot_bench.store.atomic import atomic_write_text
from promot_bench.train import distributed
from promot_bench.train.optimizer import lr_factor, make_optimizer
from promot_bench.train.stage_files import (
    load_tensors,
    read_checkpoint,
    read_safetensors,
    save_safetensors,
    tensors_of,
    write_checkpoint,
)
from promot_bench.train.stage_hooks import StageHooks
from promot_bench.train.train_data import Example, StageData, batch_indices, encode


@dataclass
class Stage:
    name: str
    steps: int
    checkpoint_every: int
    # name -> (tensor, learning rate): what trains in this stage and how fast
    trainable: dict[str, tuple[torch.nn.Parameter, float]]
    # a SoftPrompt (or KVPrefix) attached to every input, trained or not
    soft_prompt: object | None = None
    extendable: bool = False  # keep the resumable state at the end, to be continued later
    # an adapter's own work at every step, where its method needs some (AdaLoRA); none by default
    hooks: StageHooks = field(default_factory=StageHooks)


@dataclass
class StageReport:
    name: str
    steps: int
    seconds: float
    tokens: int
    final_loss: float
    best_step: int | None = None
    best_score: float | None = None
    resumed_from: int = 0
    history: list = field(default_factory=list)  # [step, loss] at every step
    # the gradient's norm before clipping, every step
    grad_norms: list = field(default_factory=list)
    validation: list = field(default_factory=list)  # [step, score] at every checkpoint (keep-best)
    # sha256 of the examples every step drew, in order: two stages with the same value trained on
    # the same batches in the same order (ft's and ProMoT's model stages for one seed)
    batches_sha256: str | None = None

    def to_dict(self) -> dict:
        return self.__dict__.copy()


# scores the current weights on the target's validation split; called with the stage's step
Validator = Callable[[int], float]


def autocast(precision: str, device):
    """The forward pass in the configured precision (backward follows it)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def set_dropout(model, rate: float) -> None:
    """One dropout rate for the whole model while it trains (eval mode switches it off):
    dropout modules, and attention dropout that models read from an attribute."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = rate
        if isinstance(getattr(module, "attention_dropout", None), float):
            module.attention_dropout = rate


def set_trainable(model, stage: Stage) -> None:
    """Exactly the stage's tensors get gradients; everything else is frozen."""
    chosen = {id(t) for t, _ in stage.trainable.values()}
    for param in model.parameters():
        param.requires_grad_(id(param) in chosen)
    if stage.soft_prompt is not None:
        for param in stage.soft_prompt.parameters():
            param.requires_grad_(id(param) in chosen)


def run_stage(
    stage: Stage,
    model,
    data: StageData,
    folder: Path,
    validate: Validator | None = None,
    progress: bool = True,
) -> StageReport:
    """Train one stage, resuming from `folder` if an earlier run left checkpoints there."""
    tokenizer, examples, cfg = data.tokenizer, data.examples, data.cfg
    folder.mkdir(parents=True, exist_ok=True)
    done = _finished_earlier(stage, folder)
    if done is not None:
        return done
    set_trainable(model, stage)
    set_dropout(model, cfg.dropout)
    run = _start(stage, model, cfg, folder)
    report = run.report
    encoded = [
        encode(tokenizer, ex, model.config.is_encoder_decoder, cfg.max_length) for ex in examples
    ]
    model.train()
    bar = Phase(
        f"train {stage.name}", stage.steps, initial=run.start, enabled=progress and run.main
    )
    clock = time.perf_counter()
    for step in range(run.start, stage.steps):
        loss_sum, tokens = _step(run, encoded, tokenizer.pad_token_id, step, model.device)
        report.tokens += tokens
        report.history.append([step + 1, loss_sum])
        report.final_loss = loss_sum
        elapsed = time.perf_counter() - clock
        bar.set_postfix(
            loss=f"{loss_sum:.4f}",
            tok_s=f"{report.tokens / max(elapsed + report.seconds, 1e-9):.0f}",
        )
        bar.update()
        if (step + 1) % stage.checkpoint_every == 0 or step + 1 == stage.steps:
            run.parallel.sync()  # the runner's model now holds the trained values
            if validate is not None:
                _validate(run, model, validate, step + 1)
            report.seconds += time.perf_counter() - clock
            clock = time.perf_counter()
            _save_checkpoint(run, step + 1)
    bar.close()
    report.batches_sha256 = batches_hash(examples, cfg, stage.steps)
    model.eval()
    _finish(run, keep_best=cfg.keep_best and validate is not None)
    return report


@dataclass
class _Run:
    """A stage in training: what its checkpoint saves and a resume restores."""

    stage: Stage
    cfg: TrainConfig
    folder: Path
    parallel: distributed.SingleProcess  # or a subclass: the strategy the stage trains under
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    report: StageReport
    best_score: float = -math.inf
    start: int = 0  # the step this process starts from (a resumed checkpoint's)
    main: bool = field(default_factory=processes.is_main)

    @property
    def latest(self) -> Path:
        return self.folder / "latest.pt"


def _finished_earlier(stage: Stage, folder: Path) -> StageReport | None:
    """A finished stage's report, its final tensors loaded; None to train (or continue an
    extendable stage to a longer length)."""
    done_file = folder / "done.json"
    if not done_file.is_file():
        return None
    done = _read_report(done_file)
    if done is None or done.steps == stage.steps:
        load_tensors(stage, read_safetensors(folder / "final.safetensors"))
        if done is None:
            raise RunError(f"{done_file} is damaged; delete {folder} to retrain the stage")
        return done
    if not (done.steps < stage.steps and (folder / "latest.pt").is_file()):
        raise RunError(
            f"stage '{stage.name}' in {folder} finished at {done.steps} steps and cannot be "
            f"continued to {stage.steps}; delete the folder to retrain"
        )
    done_file.unlink(missing_ok=True)  # continue the finished stage to its new length
    return None


def _start(stage: Stage, model, cfg: TrainConfig, folder: Path) -> _Run:
    """The stage's strategy, optimizer and schedule, restored from its latest checkpoint if any."""
    latest = folder / "latest.pt"
    state = read_checkpoint(latest) if latest.is_file() else None
    if state is not None:
        load_tensors(stage, state["tensors"])  # before the strategy copies them into its shards
    # One process, or this process's share of a data-parallel or sharded step
    # (train/distributed.py); the optimizer steps what the strategy trains.
    parallel = distributed.strategy(model, stage, cfg.label_smoothing)
    stage.hooks.check(parallel.kind)
    optimizer = make_optimizer(cfg, parallel.trainable)
    run = _Run(
        stage,
        cfg,
        folder,
        parallel,
        optimizer,
        torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(cfg, stage.steps)),
        StageReport(stage.name, stage.steps, 0.0, 0, float("nan")),
    )
    if state is not None:
        _restore(run, state)
    return run


def _restore(run: _Run, state: dict) -> None:
    # Sharded optimizer state is kept by parameter name, the others' by position.
    if (state.get("parallel") == "fsdp") != (run.parallel.kind == "fsdp"):
        raise RunError(
            f"checkpoint {run.latest} was written by a {state.get('parallel', 'single')} run and "
            f"cannot resume under {run.parallel.kind}; relaunch the same way or delete it"
        )
    run.parallel.load_optimizer_state(run.optimizer, state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"])
    run.report = StageReport(**{**state["report"], "steps": run.stage.steps})
    run.start = run.report.resumed_from = state["step"]
    if run.start > run.stage.steps:
        raise RunError(
            f"checkpoint {run.latest} is at step {run.start}, past this stage's "
            f"{run.stage.steps} steps; delete the folder to retrain"
        )
    run.best_score = state["best_score"]
    run.stage.hooks.load_state(state.get("hooks") or {})


def _step(run: _Run, encoded: list, pad_token_id: int, step: int, device) -> tuple[float, int]:
    """One optimizer step over `grad_accum` micro-batches: its summed loss and token count."""
    cfg, parallel = run.cfg, run.parallel
    loss_sum, tokens = 0.0, 0
    for micro in range(cfg.grad_accum):
        indices = batch_indices(
            len(encoded), cfg.batch_size, cfg.seed, step * cfg.grad_accum + micro
        )
        with autocast(cfg.precision, device):
            loss, batch = parallel.loss([encoded[i] for i in indices], pad_token_id)
            loss = loss + run.stage.hooks.loss_term()
        value = parallel.backward(loss / cfg.grad_accum)
        if not math.isfinite(value):
            last = (
                f"the last good checkpoint (step {run.start}) is kept in {run.folder}"
                if run.latest.is_file()
                else "no checkpoint was written"
            )
            raise RunError(
                f"stage '{run.stage.name}': the loss became {value} at step {step}; "
                f"training stopped ({last}); try a lower learning rate"
            )
        loss_sum += value
        tokens += int(batch["attention_mask"].sum())
    run.report.grad_norms.append(round(parallel.clip(cfg.clip_norm), 6))
    run.optimizer.step()
    run.scheduler.step()
    run.stage.hooks.after_step(step)
    run.optimizer.zero_grad(set_to_none=True)
    faults.point("step")
    return loss_sum, tokens


def _validate(run: _Run, model, validate: Validator, step: int) -> None:
    """Score the weights on the target's validation split; keep the best ones (keep-best)."""
    model.eval()
    score = validate(step)  # every process scores its share of the items and gets the total
    model.train()
    run.report.validation.append([step, score])
    if score > run.best_score:
        run.best_score, run.report.best_score, run.report.best_step = score, score, step
        if run.main:
            save_safetensors(run.folder / "best.safetensors", tensors_of(run.stage))


def _save_checkpoint(run: _Run, step: int) -> None:
    state = run.parallel.optimizer_state(run.optimizer)  # gathered: every process takes part
    if run.main:
        write_checkpoint(
            run.latest,
            {
                "tensors": tensors_of(run.stage),
                "optimizer": state,
                "parallel": run.parallel.kind,
                "scheduler": run.scheduler.state_dict(),
                "rng": torch.get_rng_state(),
                "step": step,
                "best_score": run.best_score,
                "report": run.report.to_dict(),
                "hooks": run.stage.hooks.state(),
            },
        )
    run.parallel.barrier()


def _finish(run: _Run, keep_best: bool) -> None:
    """The stage's final tensors (the best ones under keep-best) and its report, written."""
    best = run.folder / "best.safetensors"
    if keep_best and best.is_file():
        load_tensors(run.stage, read_safetensors(best))
    if run.main:
        save_safetensors(run.folder / "final.safetensors", tensors_of(run.stage))
        atomic_write_text(run.folder / "done.json", json.dumps(run.report.to_dict()))
        if not run.stage.extendable:
            run.latest.unlink(missing_ok=True)  # optimizer state is large and no longer needed
    run.parallel.barrier()


def _read_report(path: Path) -> StageReport | None:
    try:
        return StageReport(**json.loads(path.read_text()))
    except (ValueError, TypeError):
        return None


def batches_hash(examples: list[Example], cfg: TrainConfig, steps: int) -> str:
    """The sha256 of every example drawn in `steps` steps, in order (the draw is a pure
    function of the seed and the step, so this is computed once, at the end)."""
    digest = hashlib.sha256()
    for step in range(steps):
        for micro in range(cfg.grad_accum):
            for i in batch_indices(
                len(examples), cfg.batch_size, cfg.seed, step * cfg.grad_accum + micro
            ):
                digest.update(f"{examples[i].task}\x1f{examples[i].prompt}\x1f".encode())
                digest.update(f"{examples[i].completion}\x1e".encode())
    return digest.hexdigest()
