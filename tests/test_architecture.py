"""The shape of the house, checked from the code's own imports and definitions (issue 10):
no import circles (function-level imports and backends/ included), no function over 60
lines or 8 parameters, and the store importing nothing of backends or derived caches."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (("clinvk", "clinvk"), ("backends", "clinvk.backends"))


def _modules() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for folder, package in PACKAGES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            mods[".".join([package, *parts])] = path
    return mods


def _imports(name: str, path: Path, mods: dict[str, Path]) -> set[str]:
    """Every module of the project that `name` imports, at any depth of its code."""
    found: set[str] = set()
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            candidates = [base] + [f"{base}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        found.update(c for c in candidates if c in mods and c != name)
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {name: _imports(name, path, mods) for name, path in mods.items()}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_scan_sees_a_circle():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circles():
    assert _circles(_graph()) == []


def _functions():
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield f"{name}.{node.name}", node


def test_functions_are_short():
    long = [(name, node.end_lineno - node.lineno + 1) for name, node in _functions()
            if node.end_lineno - node.lineno + 1 > 60]
    assert long == []


def test_functions_take_few_parameters():
    def count(node: ast.FunctionDef) -> int:
        args = node.args
        names = [a.arg for a in args.posonlyargs + args.args]
        total = len(names) + len(args.kwonlyargs) + bool(args.vararg) + bool(args.kwarg)
        return total - (names[:1] in (["self"], ["cls"]))

    many = [(name, count(node)) for name, node in _functions() if count(node) > 8]
    assert many == []


@pytest.mark.parametrize("forbidden", ["clinvk.backends", "clinvk.transcripts", "clinvk.commands",
                                       "clinvk.cli", "clinvk.api"])
def test_the_store_knows_no_backend_cache_or_command(forbidden):
    graph = _graph()
    leaks = sorted((mod, dep) for mod, deps in graph.items() if mod.startswith("clinvk.store")
                   for dep in deps if dep == forbidden or dep.startswith(forbidden + "."))
    assert leaks == []


def test_adapters_know_no_store_and_no_click():
    graph = _graph()
    leaks = sorted((mod, dep) for mod, deps in graph.items() if mod.startswith("clinvk.backends")
                   for dep in deps if dep.startswith(("clinvk.store", "clinvk.commands", "clinvk.cli")))
    assert leaks == []


def test_every_package_is_installed():
    """A plain `pip install .` ships every package of the tree (an editable install hides a
    package missing from pyproject's list: clinvk.pty once was)."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(conf["packages"])
    present = {"clinvk.backends"} | {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "clinvk").rglob("__init__.py")
    }
    assert listed == present
    assert conf["package-dir"] == {"clinvk.backends": "backends"}
    assert set(conf["package-data"]["clinvk"]) == {
        path.name for path in (ROOT / "clinvk").iterdir()
        if path.suffix in (".yaml", ".json")}
