"""Summarization: PEP 257 docstrings of installed packages (django, pyglet), read with `ast`,
their summary line as the target."""

from __future__ import annotations

import ast
import importlib.metadata
import inspect
import re
import warnings
from pathlib import Path
from typing import Iterable

from promot_bench.tasks.mini.builders.common import deal, shuffled, take, task_rng, words
from promot_bench.tasks.mini.builders.settings import (
    ARTICLE_WORDS,
    DEMO_POOL,
    MAX_CODE_TOKEN_SHARE,
    SPLITS,
    SUMMARIZATION_TEST,
    SUMMARIZATION_VALIDATION,
    SUMMARY_WORDS,
    Splits,
)

_NOT_PROSE = re.compile(
    r">>>|::|^\s*\.\. |^\s*:\w[^:]*:|@\w+|\b[LCIBU]\{"  # doctests, rst blocks/fields, epytext
    r"|^\s*(Args|Arguments|Parameters|Returns?|Raises|Yields|Examples?|Attributes|Keyword Arg\w*|"
    r"Usage|Notes?|See Also|Warning)\s*:?\s*$"  # numpy/google sections
    r"|^\s*[-=~^]{3,}\s*$|^\s*([-*+]|\d+[.)])\s",  # underlines, lists (tables of parameters)
    re.MULTILINE,
)


_ROLE = re.compile(r":[\w.:+-]+:`~?(?:[^`<]*?\.)?([^`<.]+?)(?:\s*<[^>]*>)?`")


_CODE_TOKEN = re.compile(r"[_()\[\]{}=<>`*|\\]|\w\.\w")


def plain(text: str) -> str:
    """One paragraph of plain text: roles and backquotes removed, white space collapsed."""
    text = _ROLE.sub(r"\1", text)
    text = re.sub(r"``([^`]+)``", r"\1", text)
    text = re.sub(r"`([^`]+)`", r"\1", text)
    return " ".join(text.split())


def code_share(text: str) -> float:
    tokens = text.split()
    return sum(bool(_CODE_TOKEN.search(t)) for t in tokens) / max(len(tokens), 1)


def docstrings(tree: ast.Module) -> Iterable[tuple]:
    """(qualified name, docstring) of the module, its classes, their methods and its functions;
    functions nested in functions are skipped."""
    yield "<module>", ast.get_docstring(tree, clean=False)

    def walk(body, prefix):
        for node in body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                name = prefix + node.name
                yield name, ast.get_docstring(node, clean=False)
                if isinstance(node, ast.ClassDef):
                    yield from walk(node.body, name + ".")

    yield from walk(tree.body, "")


def article_summary(doc: str | None) -> tuple | None:
    """(article, summary) from a PEP 257 docstring, or None when it is not prose worth
    summarizing: no body, doctests or parameter tables, sizes out of bounds, code-like text,
    or a summary line the body repeats verbatim."""
    if not doc:
        return None
    doc = inspect.cleandoc(doc)
    if _NOT_PROSE.search(doc) or "\n\n" not in doc:
        return None
    head, body = doc.split("\n\n", 1)
    summary, article = plain(head), plain(body)
    if not (SUMMARY_WORDS[0] <= words(summary) <= SUMMARY_WORDS[1]):
        return None
    if not (ARTICLE_WORDS[0] <= words(article) <= ARTICLE_WORDS[1]):
        return None
    if max(code_share(summary), code_share(article)) > MAX_CODE_TOKEN_SHARE or summary.endswith(
        ":"
    ):
        return None
    if not (summary[0].isupper() and article[0].isupper()):  # a sentence, not a formula or name
        return None
    if re.search(r"[.!?]\s+[A-Z]", summary):  # the reference is one sentence
        return None
    if summary.rstrip(".").casefold() in article.casefold():
        return None
    return article, summary


def docstring_items(package: str, task: str, skip: re.Pattern) -> dict:
    """source file -> records, from the installed distribution's .py files (read, not
    imported); the first copy of a repeated summary or article wins."""
    dist = importlib.metadata.distribution(package)
    files = sorted(
        str(f)
        for f in dist.files or ()
        if str(f).endswith(".py") and str(f).startswith(f"{package}/")
    )
    seen, out = set(), {}
    for rel in files:
        if skip.search(rel):
            continue
        try:
            with warnings.catch_warnings():  # newer Pythons warn about old escape sequences
                warnings.simplefilter("ignore", SyntaxWarning)
                tree = ast.parse(Path(dist.locate_file(rel)).read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for qualname, doc in docstrings(tree):
            pair = article_summary(doc)
            if pair is None or pair[0] in seen or pair[1] in seen:
                continue
            seen.update(pair)
            out.setdefault(f"file:{rel}", []).append(
                {
                    "id": f"{task}/{rel}:{qualname}",
                    "entities": [f"file:{rel}"],
                    "article": pair[0],
                    "summary": pair[1],
                }
            )
    return out


def build_summarization(package: str, seed: int, skip: str) -> Splits:
    """Docstrings of one package; source files are dealt (test first) so near-identical
    sibling docstrings stay in one split."""
    task = f"sum-{package}"
    rng = task_rng(seed, task)
    by_file = docstring_items(package, task, re.compile(skip))
    sizes = {"test": SUMMARIZATION_TEST, "validation": SUMMARIZATION_VALIDATION, "train": DEMO_POOL}
    dealt = deal(
        shuffled(by_file, rng),
        {"test": sizes["test"], "validation": sizes["validation"], "train": None},
        size=lambda key: len(by_file[key]),
    )
    out = {}
    for split in SPLITS:
        records = [r for key in dealt[split] for r in by_file[key]]
        rng.shuffle(records)
        out[split] = take(records, sizes[split], f"{task} {split}")
    return out


SUMMARIZATION_SOURCES = {
    # package -> source files left out: vendored third-party code, settings, locale data
    "django": r"/(conf|locale)/",
    "pyglet": r"/extlibs/",
}
