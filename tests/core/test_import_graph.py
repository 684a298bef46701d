"""The package dependency rules: drivestack's subpackages import each other without a cycle, the
metrics never import the simulator, the simulator, renderers and benchmark runner never import the
miners, and no module imports another module's private names (private modules may be imported)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import drivestack

ROOT = Path(drivestack.__file__).resolve().parent


def _imports() -> list[tuple[str, str, str]]:
    """(importing module, imported module, imported name or '') of every drivestack import in the
    package's sources, wherever it stands (lazy imports and type-only ones included)."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        module = ".".join(("drivestack", *path.relative_to(ROOT).with_suffix("").parts))
        module = module.removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("drivestack"):
                found += [(module, node.module, alias.name) for alias in node.names]
            elif isinstance(node, ast.Import):
                found += [
                    (module, alias.name, "") for alias in node.names if alias.name.startswith("drivestack")
                ]
    return found


def _package(module: str) -> str:
    """The subpackage (or top-level module) of drivestack a module belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _cycle(edges: dict[str, set[str]]) -> list[str]:
    """A cycle of the directed graph `edges` as the nodes along it, or [] when it has none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for following in sorted(edges.get(node, ())):
            if state.get(following) == 1:
                return [*path[path.index(following) :], following]
            if following not in state and (found := visit(following)):
                return found
        state[node] = 2
        path.pop()
        return []

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_the_subpackages_import_each_other_without_a_cycle() -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    for importer, imported, _ in _imports():
        if _package(importer) != _package(imported) and _package(importer):
            edges[_package(importer)].add(_package(imported))
    assert edges["plan"] and edges["sim"]  # the walk sees the imports
    assert _cycle(edges) == []
    assert "sim" not in edges["metrics"]  # the run record is core's: metrics judge any run
    assert edges["core"] == set()  # core depends on no other part


def test_sim_viz_and_bench_never_import_the_miners() -> None:
    bad = [
        (importer, imported)
        for importer, imported, name in _imports()
        if _package(importer) in ("sim", "viz", "bench")
        and (
            imported.startswith("drivestack.data.mining")
            or f"{imported}.{name}".startswith("drivestack.data.mining")
        )
    ]
    assert bad == []


def _is_module(dotted: str) -> bool:
    """True when `dotted` names a module or package of drivestack (not a name inside one)."""
    path = ROOT.joinpath(*dotted.split(".")[1:])
    return path.with_suffix(".py").is_file() or path.is_dir()


def test_no_module_imports_another_modules_private_names() -> None:
    bad = [
        (importer, f"{imported}.{name}")
        for importer, imported, name in _imports()
        if name.startswith("_") and not _is_module(f"{imported}.{name}")
    ]
    assert bad == []
    assert _is_module("drivestack.data.formats._xml") and not _is_module(
        "drivestack.core.dynamics.idm.idm_law"
    )


def test_a_cycle_is_found() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}}) == []
