"""The one evaluation path: lm-eval's `simple_evaluate` over our task folder, with the
soft-prompt-aware `PromptLM`, returning each task's primary score, its stderr, and the
per-item records (prompt, output, gold, score).

Every task of ours reports a `score` metric (its primary metric on a 0-100 scale); for other
lm-eval tasks the primary metric is the first of the task's `metric_list`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promot_bench import processes, tasks
from promot_bench.console import silenced_stderr
from promot_bench.evaluate.prompt_lm import PromptLM
from promot_bench.store import faults

# Rows per forward pass. A pass on a CPU is bound by reading the weights, so 32 rows cost far
# less than 4x what 8 do (benchmark/perf/README.md, perf.suite_cost). Part of the baseline cache
# key:
# another batch size may change the last bits of a score, and so an output.
BATCH_SIZE = 32


def tasks_dir() -> Path:
    return Path(tasks.__file__).parent


def task_manager(include_paths: list[str | Path] | None = None, defaults: bool = False):
    """Our tasks and the user's `include_paths`; lm-eval's thousands of built-ins only with
    `defaults` (they take about 20 s to index, ours 0.1 s)."""
    from lm_eval.tasks import TaskManager

    return TaskManager(
        include_path=[str(tasks_dir()), *map(str, include_paths or [])], include_defaults=defaults
    )


@dataclass
class TaskScore:
    task: str
    metric: str
    value: float
    stderr: float | None
    n: int
    samples: list[dict] = field(default_factory=list)
    aggregation: str = "mean"  # how per-item values make the score (statistics.AGGREGATIONS)
    higher_is_better: bool = True  # the metric's direction, from the task's own config
    # items' mean (gold_logprob.py); None: not asked, or not generative
    gold_logprob: float | None = None
    # items' mean KL from the pretrained model (gold_logprob.py); None: no reference given
    kl: float | None = None
    # whether the evaluation's seed can change its outputs (`depends_on_seed`)
    depends_on_seed: bool = True
    # how its outputs were made: enough to redo them with transformers alone (`decoding`)
    decoding: dict | None = None


@dataclass(frozen=True)
class EvalOptions:
    """How one pass scores (`evaluate`, `run_lm_eval`); every field has its default.

    `soft_prompt` and the text `demonstration` are attached to every prompt. `lm_class` replaces
    `PromptLM` (the evaluation benchmark passes stock `HFLM`). `gold_logprob` adds
    out["gold_logprob"] (task -> doc_id -> value) for the generative tasks, through the same LM
    object (gold_logprob.py), and with `kl_reference` (the pretrained model) out["kl"] (task ->
    doc_id -> its KL from it at the gold's positions). `progress`: a label under which the pass
    shows its items done (generation, then gold log-probs) on stderr."""

    soft_prompt: Any = None
    demonstration: str = ""
    num_fewshot: int | None = None
    limit: int | None = None
    batch_size: int = BATCH_SIZE
    seed: int = 0
    manager: Any = None
    bootstrap_iters: int = 1000
    lm_class: Any = None
    gold_logprob: bool = False
    kl_reference: Any = None
    progress: str | None = None


def evaluate(
    model, tokenizer, tasks: list[str], options: EvalOptions = EvalOptions()
) -> dict[str, TaskScore]:
    """Score `model` on `tasks` as `options` say. In a data-parallel launch every process scores
    its share, lm-eval gathers them on the main process, and this hands the main's scores to
    every process: past this point no caller tells a helper process from the main one until it
    writes."""
    out = run_lm_eval(model, tokenizer, tasks, options)
    return processes.main_decides(lambda: scores_of(out))


def run_lm_eval(model, tokenizer, tasks: list[str], options: EvalOptions = EvalOptions()) -> dict:
    """lm-eval's own output dict (results, configs, samples) for `tasks` as `options` say; None
    on a data-parallel helper process (`processes.init_group` started the launch's group)."""
    from lm_eval import simple_evaluate

    faults.point("eval")
    o = options
    if o.lm_class is None:
        lm = PromptLM(
            model, o.soft_prompt, tokenizer=tokenizer, batch_size=o.batch_size, progress=o.progress
        )
    else:
        lm = o.lm_class(pretrained=model, tokenizer=tokenizer, batch_size=o.batch_size)
    with silenced_stderr():  # lm-eval's bars and notices, and the `git describe` it runs
        out = simple_evaluate(
            model=lm,
            tasks=tasks,
            num_fewshot=o.num_fewshot,
            limit=o.limit,
            task_manager=o.manager or task_manager(),
            log_samples=True,
            # For a plain (non-chat) model lm-eval puts the system instruction right before the
            # prompt with no separator, so the demonstration carries its own: the exact text the
            # tuner trained with (tests/tuners/test_tuners.py checks the two agree).
            system_instruction=o.demonstration or None,
            # Metrics without a closed-form stderr (corpus BLEU) are bootstrapped; lm-eval's
            # default of 100,000 resamples takes minutes on a laptop CPU.
            bootstrap_iters=o.bootstrap_iters,
            random_seed=o.seed,
            numpy_random_seed=o.seed,
            torch_random_seed=o.seed,
            fewshot_random_seed=o.seed,
        )
    if out is None:
        return None
    if o.gold_logprob:
        from promot_bench.evaluate import gold_logprob as gold

        out["gold_logprob"], out["kl"] = gold.score(lm, out, o.kl_reference)
    out["decoding"] = lm_decoding(lm, o.soft_prompt)
    return out


def lm_decoding(lm, soft_prompt) -> dict:
    """What the LM did to every prompt before and while generating (the tasks add theirs)."""
    probe = "Q"
    encoded = lm.tok_batch_encode([probe])[0][0].tolist()
    plain = lm.tokenizer(probe, add_special_tokens=False)["input_ids"]
    return {
        # the prompt as the samples file records it is tokenized with these special tokens
        "bos_prepended": encoded[:1] == [lm.tokenizer.bos_token_id] and encoded[1:] == plain,
        "special_tokens_added": encoded != plain,
        "chat_template": False,  # never applied: every model is prompted as a plain LM
        "soft_prompt_tokens": 0 if soft_prompt is None else soft_prompt.length,
        # a longer prompt loses its beginning, to fit the window with max_gen_toks left over
        "max_length": lm.max_length,
        "decoding": "greedy (argmax), stopping at an end-of-sequence token or a stop string",
    }


def scores_of(out: dict) -> dict[str, TaskScore]:
    """Each task's primary score, stderr and per-item records from lm-eval's output."""
    scores = {}
    for task, metrics in out["results"].items():
        if task not in out.get("samples", {}):
            continue  # a group row: aggregates are recomputed from the tasks by the caller
        metric = primary_metric(out["configs"][task], metrics)
        key = f"{metric},none"
        stderr = metrics.get(f"{metric}_stderr,none")
        # In document order: data-parallel processes' samples arrive one process after another.
        samples = sorted(out["samples"][task], key=lambda s: s["doc_id"])
        records = [sample_record(s, metric) for s in samples]
        means = {key: attach(records, out.get(key, {}).get(task), key) for key in PER_ITEM}
        scores[task] = TaskScore(
            task,
            metric,
            float(metrics[key]),
            float(stderr) if isinstance(stderr, (int, float)) else None,
            len(samples),
            records,
            aggregation_name(out["configs"][task], metric),
            bool(out.get("higher_is_better", {}).get(task, {}).get(metric, True)),
            means["gold_logprob"],
            means["kl"],
            depends_on_seed(out["configs"][task]),
            task_decoding(out["configs"][task], out.get("decoding")),
        )
    return scores


PER_ITEM = ("gold_logprob", "kl")  # values gold_logprob.score gives per item, beside lm-eval's


def attach(records: list[dict], values: dict | None, key: str) -> float | None:
    """Each record's value (doc_id -> value) under `key`, where the pass gave them; the mean of
    those given (None without any)."""
    for record in records if values else []:
        record[key] = values.get(record["doc_id"])
    given = [r[key] for r in records if r.get(key) is not None]
    return sum(given) / len(given) if given else None


def task_decoding(config: dict, lm: dict | None) -> dict:
    """A task's generation settings, the demonstrations' rule and the LM's (`lm_decoding`)."""
    generation = config.get("generation_kwargs") or {}
    fewshot = config.get("fewshot_config") or {}
    return {
        "output_type": config.get("output_type"),
        "num_fewshot": config.get("num_fewshot") or 0,
        "demonstrations": fewshot.get("sampler", "default")
        if config.get("num_fewshot")
        else "none",
        "until": list(generation.get("until") or []),
        "max_gen_toks": generation.get("max_gen_toks"),
        "do_sample": bool(generation.get("do_sample")),
        **(lm or {}),
    }


def depends_on_seed(config: dict) -> bool:
    """Whether a task's outputs can change with the evaluation's seed: its demonstrations are
    drawn at random (neither 0 shots, nor `first_n`, nor fixed indices), or its generation
    samples. A greedy task with `first_n` demonstrations gives every seed the same outputs."""
    shots = config.get("num_fewshot") or 0
    fewshot = config.get("fewshot_config") or {}
    fixed = fewshot.get("sampler") == "first_n" or fewshot.get("fewshot_indices")
    generation = config.get("generation_kwargs") or {}
    sample = generation.get("do_sample")
    sampled = bool(sample) or (sample is None and (generation.get("temperature") or 0) > 0)
    return (shots > 0 and not fixed) or (config.get("output_type") == "generate_until" and sampled)


def primary_metric(config: dict, metrics: dict) -> str:
    names = [m["metric"] for m in config.get("metric_list", []) if isinstance(m.get("metric"), str)]
    if "score" in names:
        return "score"
    for name in names:
        if f"{name},none" in metrics:
            return name
    raise KeyError(f"task {config.get('task')} reports no usable metric")


def aggregation_name(config: dict, metric: str) -> str:
    """lm-eval stores a custom aggregation as its source text: keep the function's name."""
    for entry in config.get("metric_list", []):
        if entry.get("metric") == metric:
            text = str(entry.get("aggregation", "mean"))
            found = re.match(r"\s*def\s+(\w+)", text)
            return found.group(1) if found else text
    return "mean"


def sample_record(sample: dict, metric: str) -> dict:
    """One item's prompt, output, gold and score, in plain JSON types."""
    arguments = sample.get("arguments") or []
    prompt = arguments[0][0] if arguments and isinstance(arguments[0], (list, tuple)) else None
    responses = sample.get("filtered_resps") or sample.get("resps") or []
    output = responses[0] if responses else None
    if isinstance(output, (list, tuple)):
        output = output[0]
    value = sample.get(metric)
    record = {
        "doc_id": sample.get("doc_id"),
        "prompt": prompt,
        "output": output,
        "gold": sample.get("target"),
    }
    if isinstance(value, (list, tuple)):  # corpus-level metrics keep (prediction, reference) pairs
        return {**record, "score": None, "pair": list(value)}
    # numpy scalars (lm-eval's acc is a numpy bool) -> plain JSON numbers
    if hasattr(value, "item"):
        value = value.item()
    return {**record, "score": float(value) if isinstance(value, bool) else value}
