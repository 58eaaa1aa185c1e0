"""The package's shape: imports flow one way (no cycles, late imports inside functions included) and no
module reaches into another's private names. Read with ``ast``, so nothing is imported to check it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cnncalc"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def resolve(current: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute module named by ``from <level dots><target> import ...`` inside ``current``."""
    base = current.split(".") if is_package else current.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def imports(name: str) -> list[tuple[str, str, int]]:
    """(imported module, imported name or "", line) for every import in module ``name``, at any depth."""
    path = MODULES[name]
    is_package = path.name == "__init__.py"
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(alias.name, "", node.lineno) for alias in node.names if alias.name.startswith("cnncalc")]
        elif isinstance(node, ast.ImportFrom):
            module = resolve(name, is_package, node.level, node.module) if node.level else node.module or ""
            if not module.startswith("cnncalc"):
                continue
            for alias in node.names:
                submodule = f"{module}.{alias.name}"
                if submodule in MODULES:  # from . import zoo: the submodule itself
                    out.append((submodule, "", node.lineno))
                else:
                    out.append((module, alias.name, node.lineno))
    return out


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {name: set() for name in MODULES}
    for name in MODULES:
        for module, _, _ in imports(name):
            if module in MODULES and module != name:
                edges[name].add(module)
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None (iterative depth-first search)."""
    state = dict.fromkeys(edges, 0)  # 0 new, 1 on the stack, 2 done
    for root in sorted(edges):
        if state[root]:
            continue
        stack = [(root, iter(sorted(edges[root])))]
        path = [root]
        state[root] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[node] = 2
            elif state[child] == 1:
                return path[path.index(child):] + [child]
            elif state[child] == 0:
                state[child] = 1
                stack.append((child, iter(sorted(edges[child]))))
                path.append(child)
    return None


def test_no_import_cycles():
    cycle = find_cycle(graph())
    assert cycle is None, " -> ".join(cycle)


def test_no_module_imports_another_modules_private_names():
    offences = [
        f"{name}:{line} imports {imported}.{what}"
        for name in MODULES
        for imported, what, line in imports(name)
        if what.startswith("_") and not what.startswith("__") and imported != name
    ]
    assert offences == []


def test_numbers_never_import_display():
    """report, analysis and the layers below them draw nothing: only render (and the front doors) may."""
    numbers = {"cnncalc.report", "cnncalc.analysis", "cnncalc.layers", "cnncalc.graph", "cnncalc.formulas",
               "cnncalc.receptive_field", "cnncalc.trace", "cnncalc.dims"}
    edges = graph()
    for name in numbers:
        assert not {m for m in edges[name] if m.startswith("cnncalc.render")}, name


@pytest.mark.parametrize(("text", "cycle"), [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
    ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
    ({"a": {"a"}}, ["a", "a"]),
], ids=["three", "none", "self"])
def test_the_cycle_finder_finds_cycles(text, cycle):
    assert find_cycle(text) == cycle


def test_the_import_reader_sees_late_and_relative_imports():
    found = {(module, what) for module, what, _ in imports("cnncalc.analysis")}
    assert ("cnncalc.trace", "Tracer") in found  # imported inside a function
    assert ("cnncalc.report", "Report") in found


def test_every_layer_type_is_exported():
    import cnncalc
    from cnncalc import layers

    assert set(layers.layer_types()) <= set(layers.__all__) <= set(cnncalc.__all__)
    assert all(getattr(cnncalc, name) is cls for name, cls in layers.layer_types().items())
