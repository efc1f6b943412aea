"""The pretrained model's evaluations, cached by content key (model weights, suite definition
and data, seed, limit, shots) and shared by every run and probe card with that key."""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

from promot_bench import processes
from promot_bench.evaluate import evaluation
from promot_bench.evaluate.suites import Suite
from promot_bench.run.options import Plan
from promot_bench.run.record import SCHEMA_VERSION
from promot_bench.store import provenance
from promot_bench.store.cache import (
    atomic_write_text,
    cache_dir,
    check_manifest,
    locked,
    read_manifest,
    write_entry,
)

# Fields added since without a bump, optional to every reader (older results lack them):
# `mde`, `collapse` and `collapse_format`, `se` in each delta_ci entry, `gold_logprob` and
# `eval_batch_size`.
# bump when what a cached evaluation holds changes (6: each task says whether it depends on the
# seed, and an evaluation that does not is shared by every seed; 7: and how it was decoded)
CACHE_FORMAT = 7


def model_identity(path: Path) -> str:
    """A content identity of the model's weights: the cache manifest's hashes where there is
    one (embedded and converted models), else config + weight files' names, sizes and mtimes."""
    manifest = read_manifest(path)
    digest = hashlib.sha256()
    if manifest and manifest.get("files"):
        digest.update(
            json.dumps(
                {k: v["sha256"] for k, v in manifest["files"].items()}, sort_keys=True
            ).encode()
        )
        return digest.hexdigest()
    for file in sorted(path.iterdir()):
        if file.name == "config.json" or file.suffix in (".safetensors", ".bin"):
            stat = file.stat()
            digest.update(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def data_hash(suite: Suite) -> str | None:
    """The offline suite's built-data hash (of each builder's data, joined when several); the
    study suite's data is named by its YAMLs."""
    hashes = [read_manifest(folder)["data_hash"] for folder in suite.ensure_built()]
    if not hashes:
        return None
    return hashes[0] if len(hashes) == 1 else hashlib.sha256("|".join(hashes).encode()).hexdigest()


def suite_version(p: Plan) -> str:
    """A hash of the YAMLs and code that define the evaluation: the suite's folder, and the
    user's --include-path folders (with their local data files) where given."""
    parts = [provenance.hash_tree(evaluation.tasks_dir() / p.suite.folder)]
    parts += [provenance.hash_tree(Path(folder), ("*",)) for folder in p.options.include_path]
    if p.lm_eval_defaults:  # lm-eval's own tasks: their definitions come with its version
        parts.append(provenance.package_versions().get("lm_eval", ""))
    return parts[0] if len(parts) == 1 else hashlib.sha256("|".join(parts).encode()).hexdigest()


def cached_evaluation(key_parts: dict, compute) -> dict:
    """`compute()` once per content key; the result is kept in the cache and shared by runs
    (the main process reads and writes it, and hands it to every process).

    The key names a seed, but an evaluation whose every task gives the same outputs whatever the
    seed (`evaluation.depends_on_seed`: greedy, fixed demonstrations) is kept under the key with
    no seed, and so computed once for all seeds; one that depends on it is kept per seed."""
    shared = entry_folder({**key_parts, "seed": None})
    own = entry_folder(key_parts)
    main = processes.is_main()
    # Under the shared entry's lock, so runs of any seed compute it once (the others wait, then
    # read it); a per-seed entry is written under the same lock.
    with locked(shared) if main else contextlib.nullcontext():
        found = processes.main_decides(
            lambda: next((f for f in (shared, own) if check_manifest(f, full=True) is None), None)
        )
        if found is None:
            scores = compute()
            target = own if any(s.get("depends_on_seed", True) for s in scores.values()) else shared
            key = key_parts if target is own else {**key_parts, "seed": None}
            if main:
                write_entry(target, lambda tmp: entry(tmp, key, scores))
            found = target
    return processes.main_decides(lambda: json.loads((found / "scores.json").read_text())["scores"])


def entry_folder(key_parts: dict) -> Path:
    key = hashlib.sha256(json.dumps(key_parts, sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir() / "baselines" / key


def entry(tmp: Path, key_parts: dict, scores: dict) -> dict:
    """A cache entry's files (a small file: its sha256 is checked on every use)."""
    atomic_write_text(tmp / "scores.json", json.dumps({"key": key_parts, "scores": scores}))
    return {"key": key_parts}


def baseline_key(p: Plan, loaded) -> dict:
    """The content key of the pretrained model's cached evaluations (less the tasks and shots)."""
    o = p.options
    return {
        "model": model_identity(loaded.path),
        "suite": p.eval_key,
        "suite_version": suite_version(p),
        "data_hash": data_hash(p.suite),
        "seed": o.seed,
        "limit": o.limit,
        "schema": SCHEMA_VERSION,
        "cache_format": CACHE_FORMAT,
        "batch_size": evaluation.BATCH_SIZE,
    }


def evaluate_json(loaded, manager, seed: int, model, names: list[str], **kw) -> dict:
    """`evaluation.evaluate` as the cache stores it."""
    scores = evaluation.evaluate(
        model, loaded.tokenizer, names, evaluation.EvalOptions(manager=manager, seed=seed, **kw)
    )
    return scores_to_json(scores)


def pretrained_scores(p: Plan, loaded, manager, key: dict | None = None) -> dict:
    """The pretrained model's scores on the plan's eval set (a run's "before"), computed once
    per content key and shared by every run and probe card with that key."""
    key = baseline_key(p, loaded) if key is None else key
    return cached_evaluation(
        {**key, "tasks": p.group, "shots": p.options.shots},
        lambda: evaluate_json(
            loaded,
            manager,
            p.options.seed,
            loaded.model,
            p.eval_tasks,
            limit=p.options.limit,
            num_fewshot=p.eval_shots,
            gold_logprob=True,
            progress="before",
        ),
    )


def score_json(score) -> dict:
    """One task's score as the cache and result store it."""
    return {
        "metric": score.metric,
        "score": score.value,
        "stderr": score.stderr,
        "n": score.n,
        "aggregation": score.aggregation,
        "higher_is_better": score.higher_is_better,
        "gold_logprob": score.gold_logprob,
        **({"kl": score.kl} if score.kl is not None else {}),
        "depends_on_seed": score.depends_on_seed,
        "decoding": score.decoding,
        "samples": score.samples,
    }


def scores_to_json(scores: dict) -> dict:
    return {name: score_json(s) for name, s in scores.items()}
