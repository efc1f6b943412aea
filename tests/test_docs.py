"""Every claim the user's pages make about the checkout is true today: each repository path they
name exists, and each `promot-bench` command and flag they show is one the command line has."""

import re
from pathlib import Path

import pytest

from promot_bench.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TOP = ("benchmark/", "tuners/", "tasks/", "tests/", "docs/", "results/", ".ci/")
# names of what a run makes under --out (my-results/...) or patterns (<model>, **), not files
SKIP = re.compile(r"[<>*{}]|\.\.\.|…|seed<k>|my-results|\.\w+/\.")  # "LEADERBOARD.md/.csv"
# folders a command creates when it first runs (promot-bench seed-plan writes results/plans/)
MADE_BY_COMMANDS = {"results/plans/"}


def named_paths(text: str) -> set[str]:
    """Repository paths in backticks or Markdown links."""
    found = set(re.findall(r"`([^`\s]+)`", text)) | set(re.findall(r"\]\(([^)\s#]+)", text))
    return {
        p.removeprefix("../").split("#")[0].rstrip(".,:;")
        for p in found
        if p.removeprefix("../").startswith(TOP) and not SKIP.search(p)
    }


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_path_a_page_names_exists(page):
    text = page.read_text(encoding="utf-8")
    missing = sorted(p for p in named_paths(text) - MADE_BY_COMMANDS if not (ROOT / p).exists())
    assert missing == []


def code(text: str) -> list[str]:
    """The page's code: fenced blocks and inline spans (prose may say "promot-bench fine-tunes")."""
    blocks = re.findall(r"```[^\n]*\n(.*?)```", text, flags=re.S)
    rest = re.sub(r"```.*?```", "", text, flags=re.S)
    return blocks + re.findall(r"`([^`]+)`", rest)


def commands(text: str) -> list[tuple[list[str], list[str]]]:
    """(subcommand path, its --flags) of every `promot-bench ...` in the page's code: a command
    runs to the end of its line, a pipe, a `)` or a `&&`."""
    found = []
    for chunk in code(text):
        for line in re.findall(r"promot-bench ([a-z][^\n|)&#]*)", chunk):
            words = line.split()
            path = [w for w in words[:2] if re.fullmatch(r"[a-z][a-z-]*", w)]
            found.append((path, re.findall(r"(--[a-z][a-z-]*)", line)))
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_command_and_flag_a_page_shows_exists(page):
    wrong = []
    for path, flags in commands(page.read_text(encoding="utf-8")):
        parser = subparser(path[:1])
        if parser is None:
            wrong.append(f"promot-bench {' '.join(path)}")
            continue
        nested = subparser(path) if len(path) > 1 else None  # `models fetch`
        known = options(parser) | (options(nested) if nested else set())
        wrong += [f"promot-bench {' '.join(path)} {f}" for f in flags if f not in known]
    assert wrong == []


def subparser(path: list[str]):
    """The parser of `promot-bench <path...>`, or None where there is none."""
    parser = build_parser()
    for word in path:
        choices = next(
            (
                a.choices
                for a in parser._actions
                if getattr(a, "choices", None) and a.nargs == "A..."
            ),
            None,
        )
        if not choices or word not in choices:
            return None
        parser = choices[word]
    return parser


def options(parser) -> set[str]:
    return {o for a in parser._actions for o in a.option_strings}


def test_the_check_sees_a_wrong_path_and_a_wrong_flag():
    assert named_paths("see `results/nothing/here.json` and [x](docs/none.md)") == {
        "results/nothing/here.json",
        "docs/none.md",
    }
    assert commands("`promot-bench run --tuner ft --nope 3`") == [(["run"], ["--tuner", "--nope"])]
    assert subparser(["run"]) is not None and subparser(["nope"]) is None
    assert commands("promot-bench fine-tunes a model") == []
