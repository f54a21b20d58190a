"""The package's import graph: no cycle, each module importing only its own layer or the layers below it,
and the package's own imports at module top (a cycle hides behind imports inside functions)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "leukutils"

#: Layers, bottom up: a module may import modules of its own layer or of a layer below it. A module is
#: placed by the longest prefix of its dotted name listed here (the package itself only by its own name).
LAYERS: dict[str, int] = {
    # base
    "leukutils": 0, "leukutils.config": 0, "leukutils.parameters": 0, "leukutils.metrics": 0,
    "leukutils.preprocess": 0, "leukutils.report": 0, "leukutils.models": 0, "leukutils.environment": 0,
    "leukutils.plots": 0,
    # data
    "leukutils.data": 1,
    # methods
    "leukutils.train": 2, "leukutils.inference": 2, "leukutils.features": 2, "leukutils.segment": 2,
    "leukutils.explain": 2, "leukutils.localisation": 2, "leukutils.shortcuts": 2,
    "leukutils.model_cards": 2,
    # papers
    "leukutils.patients": 3, "leukutils.cross_validation": 3, "leukutils.segmented_classifiers": 3, "leukutils.logit_clustering": 3,
    "leukutils.claims": 3, "leukutils.findings": 3,
    # commands
    "leukutils.apply": 4, "leukutils.publish": 4, "leukutils.site": 4, "leukutils.seeds": 4,
    "leukutils.grid": 4, "leukutils.run": 4, "leukutils.cli": 4, "leukutils.__main__": 4, "leukutils.explorer": 4,
    "leukutils.audit": 4,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def resolve(name: str, known: dict[str, Path]) -> str | None:
    """The package module that ``import name`` runs last: ``name`` itself, or the nearest parent known."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str, path: Path, known: dict[str, Path]) -> list[tuple[str, int, bool]]:
    """``(imported module, line, at module top)`` for every package import in ``path``, wherever it sits."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    top = {id(node) for node in tree.body}
    top |= {id(n) for node in tree.body if isinstance(node, (ast.If, ast.Try)) for n in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for name in names:
            target = resolve(name, known) if name.split(".")[0] == "leukutils" else None
            if target is not None and target != module:
                found.append((target, node.lineno, id(node) in top))
    return found


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {m: {target for target, _, _ in imports_of(m, p, known)} for m, p in known.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of modules (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def layer_of(module: str) -> int:
    prefix = module
    while prefix not in LAYERS or (prefix == "leukutils" != module):
        if prefix.count(".") < 1:
            raise KeyError(f"{module} has no layer in tests/test_imports.py's LAYERS: add it")
        prefix = prefix.rpartition(".")[0]
    return LAYERS[prefix]


def test_find_cycle_finds_a_cycle_and_only_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_in_the_package():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle)


def test_each_module_imports_only_its_own_layer_or_below():
    known = modules()
    upward = [f"{m} (layer {layer_of(m)}) imports {t} (layer {layer_of(t)}) on line {line}"
              for m, p in known.items() for t, line, _ in imports_of(m, p, known) if layer_of(t) > layer_of(m)]
    assert not upward, "\n".join(upward)


def test_the_package_imports_its_own_modules_at_module_top():
    known = modules()
    inside = [f"{p.relative_to(PACKAGE.parent)}:{line} imports {t} inside a function"
              for m, p in known.items() for t, line, top in imports_of(m, p, known) if not top]
    assert not inside, "\n".join(inside)


@pytest.mark.parametrize("source, expected", [("from . import config", "leukutils.config"),
                                              ("from .data import registry", "leukutils.data.registry"),
                                              ("from .data.readers import load_image", "leukutils.data.readers")])
def test_relative_imports_resolve_to_modules(tmp_path, source, expected):
    known = modules()
    path = PACKAGE / "_probe.py"  # never written: parsed from a string below
    tree_module = "leukutils._probe"
    probe = tmp_path / "_probe.py"
    probe.write_text(source + "\n")
    known = {**known, tree_module: path}
    found = imports_of(tree_module, probe, known)
    assert [t for t, _, _ in found] == [expected]
