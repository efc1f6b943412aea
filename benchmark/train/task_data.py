"""Any lm-eval task as a fine-tuning target's data: its training split becomes (prompt,
completion) examples rendered by the task's own `doc_to_text` / `doc_to_target` /
`doc_to_choice` (the completion is the gold text), and its validation split scores checkpoints
(keep-best).

The completion starts with the task's `target_delimiter` (" " by default) because that is
exactly the continuation the task scores or the generation it expects after the prompt.
"""

from __future__ import annotations

import copy

from promot_bench.errors import UsageError
from promot_bench.train.train_data import Example

SUPPORTED = ("generate_until", "multiple_choice", "loglikelihood")


def load_task(name: str, manager):
    from lm_eval.tasks import get_task_dict

    try:
        tasks = get_task_dict([name], manager)
    except Exception as exc:  # lm-eval raises assorted errors for unknown names
        raise UsageError(f"unknown task '{name}' ({type(exc).__name__}: {exc})") from None
    if len(tasks) != 1 or not hasattr(next(iter(tasks.values())), "doc_to_text"):
        raise UsageError(
            f"'{name}' is a group, not a single task: name one of its tasks as the target"
        )
    return next(iter(tasks.values()))


def training_examples(task, name: str | None = None) -> list[Example]:
    name = name or task.config.task
    if task.config.output_type not in SUPPORTED:
        raise UsageError(
            f"task '{name}' has output type {task.config.output_type}, which cannot be "
            f"turned into training targets (supported: {', '.join(SUPPORTED)})"
        )
    if not task.has_training_docs():
        raise UsageError(f"task '{name}' has no training split to fine-tune on")
    delimiter = task.config.target_delimiter
    examples = []
    for doc in task.training_docs():
        examples.append(Example(str(task.doc_to_text(doc)), delimiter + gold_text(task, doc), name))
    if not examples:
        raise UsageError(f"task '{name}' has an empty training split")
    return examples


def gold_text(task, doc) -> str:
    """The gold answer as text: the gold choice for multiple choice, the first gold target."""
    target = task.doc_to_target(doc)
    if task.config.output_type == "multiple_choice":
        choices = task.doc_to_choice(doc)
        if isinstance(target, int):
            return str(choices[target])
        return str(target)
    return first_answer(target)


def first_answer(target) -> str:
    """A generative task's gold as text: the first of a list of accepted answers."""
    return str(target[0]) if isinstance(target, (list, tuple)) else str(target)


def validation_task(task):
    """A copy of `task` that evaluates its validation split (for keep-best), or None."""
    if not task.has_validation_docs():
        return None
    copied = copy.copy(task)
    copied._config = copy.copy(task.config)  # lm-eval exposes `config` as a read-only property
    copied._config.test_split = None  # lm-eval scores the test split whenever one exists
    return copied
