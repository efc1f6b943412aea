"""The error convention every subcommand follows.

Bad input raises `UsageError` (exit 2), a failure while doing valid work raises `RunError`
(exit 1). The CLI turns either into one line on stderr, never a traceback. Validate before
writing anything, so that a refused command leaves no file behind.
"""


class BenchError(Exception):
    exit_code = 1


class UsageError(BenchError):
    """The user asked for something that cannot be done as asked (exit 2)."""

    exit_code = 2


class RunError(BenchError):
    """Valid input, but the work failed (exit 1): a corrupt download, a NaN loss, a full disk."""

    exit_code = 1


def choices_text(choices) -> str:
    return ", ".join(str(c) for c in choices)
