"""The package's layout stays readable: its packages form layers that import only downward (no
exception list), no import cycle between its modules, no module (the command line aside) so
long that it holds several jobs, and no function too long to read or taking more than a few
parameters (the rest go in a parameter object)."""

import ast
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
# package name -> folder of the checkout (pyproject.toml's package-dir)
ROOTS = {
    "promot_bench": CHECKOUT / "benchmark",
    "promot_bench.tuners": CHECKOUT / "tuners",
    "promot_bench.tasks": CHECKOUT / "tasks",
}
MAX_LINES = 350
LONGER_ALLOWED = {"benchmark/cli.py"}  # every subcommand's arguments, in one parser
MAX_FUNCTION_LINES = 60
MAX_PARAMETERS = 6  # self and cls not counted
# the parser's declarations: one add_argument after another, nothing to follow
DECLARATIONS = {"build_parser", "add_run_options"}


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in ROOTS.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            found[".".join((package, *parts))] = path
    return found


def imports(name: str, path: Path, known: dict) -> set[str]:
    """The package's modules that `name` imports anywhere in its file (function-local too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def module_of(dotted: str) -> str | None:
        while dotted and dotted not in known:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {module_of(a.name) for a in node.names if a.name.startswith("promot_bench")}
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(max(node.level - 1, 0)):
                base = base.rpartition(".")[0]
            source = (
                (base + ("." + node.module if node.module else ""))
                if node.level
                else (node.module or "")
            )
            if source.startswith("promot_bench"):
                # `from pkg import module` imports that module; `from module import name` the module
                found |= {
                    f"{source}.{a.name}" if f"{source}.{a.name}" in known else module_of(source)
                    for a in node.names
                }
    return found - {name, None}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while not component or component[-1] != v:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def package_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def test_the_package_has_no_import_cycle():
    assert cycles(package_graph()) == []


def test_the_cycle_check_sees_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    # and the real graph is not empty: it sees the imports it is meant to check
    edges = package_graph()
    assert "promot_bench.train.loss" in edges["promot_bench.train.distributed"]
    assert "promot_bench.run.runner" in edges["promot_bench.cli"]


# The layers, bottom first: a package imports only from its own layer and the ones below it.
LAYERS = [
    # the bottom: errors, who this process is, the console, the version
    {"promot_bench", "promot_bench.errors", "promot_bench.processes", "promot_bench.console"},
    {"promot_bench.config"},  # settings and presets
    {"promot_bench.store"},  # the cache, atomic writes, locks, provenance
    {"promot_bench.tasks"},  # task YAMLs, their metrics and data
    {"promot_bench.models"},  # model specs, loading, conversion, export
    {"promot_bench.train"},  # the one training loop and its strategies
    {"promot_bench.evaluate"},  # lm-eval calls, suites, item- and seed-level statistics
    {"promot_bench.tuners"},  # one module per tuner
    {"promot_bench.report"},  # the leaderboard, the verdict, plots
    {"promot_bench.run"},  # the commands
    {"promot_bench.cli", "promot_bench.lm_eval_hook"},  # entry points
    {"promot_bench.perf"},  # speed scripts, which may drive the command line
]


def layer(module: str) -> int:
    """The layer of a module: its package's (`promot_bench.run.runner` -> `promot_bench.run`)."""
    parts = module.split(".")
    for size in (2, 1):
        name = ".".join(parts[:size])
        for number, members in enumerate(LAYERS):
            if name in members and (size == 2 or module == name):
                return number
    raise AssertionError(f"{module} is in no layer: add its package to LAYERS")


def upward(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted((a, b) for a, targets in graph.items() for b in targets if layer(b) > layer(a))


def test_the_packages_import_only_downward():
    assert upward(package_graph()) == []


def test_the_layer_check_sees_an_upward_import():
    graph = {"promot_bench.train.training": {"promot_bench.run.runner"}}
    assert upward(graph) == [("promot_bench.train.training", "promot_bench.run.runner")]
    assert layer("promot_bench.evaluate.suites") > layer("promot_bench.train.loss")
    assert layer("promot_bench.console") == layer("promot_bench.processes") == 0


def test_no_module_is_over_the_line_limit():
    long = {}
    for path in sorted(CHECKOUT.joinpath("benchmark").rglob("*.py")):
        relative = path.relative_to(CHECKOUT).as_posix()
        count = len(path.read_text(encoding="utf-8").splitlines())
        if count > MAX_LINES and relative not in LONGER_ALLOWED:
            long[relative] = count
    assert long == {}


def oversized(source: str) -> list[tuple[str, int, int]]:
    """(name, lines, parameters) of each function in `source` over either limit."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        a = node.args
        names = [p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
        count = len([n for n in names if n not in ("self", "cls")])
        lines = node.end_lineno - node.lineno + 1
        if count > MAX_PARAMETERS or (lines > MAX_FUNCTION_LINES and node.name not in DECLARATIONS):
            found.append((node.name, lines, count))
    return found


def test_no_function_is_too_long_or_takes_too_many_parameters():
    found = {}
    for root in ("benchmark", "tuners"):
        for path in sorted(CHECKOUT.joinpath(root).rglob("*.py")):
            for name, lines, count in oversized(path.read_text(encoding="utf-8")):
                found[f"{path.relative_to(CHECKOUT).as_posix()}:{name}"] = (lines, count)
    assert found == {}


def test_the_function_check_sees_a_long_function_and_a_long_parameter_list():
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    source = f"def long():\n{body}\n\ndef wide(self, a, b, c, d, e, f, g):\n    pass\n"
    assert oversized(source) == [("long", MAX_FUNCTION_LINES + 1, 0), ("wide", 2, 7)]
    assert oversized("class C:\n    def ok(self, a, b, c, d, e, f):\n        pass\n") == []


def test_no_test_module_imports_another():
    """What tests share lives in tests/helpers/ (or conftest.py), never in another test module."""
    found = []
    for path in sorted(CHECKOUT.joinpath("tests").rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            found += [
                f"{path.relative_to(CHECKOUT)}: {n}"
                for n in names
                if n.split(".")[-1].startswith("test_")
            ]
    assert found == []
