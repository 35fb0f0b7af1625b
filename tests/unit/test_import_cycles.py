"""The domain package has floors, and no import runs back up: a test walks every import
in lambdas/mlaudit (top-level, deferred inside functions, and under TYPE_CHECKING: a
deferred import hides a cycle, it does not open it) and fails on a circle, and on an
import up mlaudit.integrity's layers (primitives <- services <- verifier)."""

from __future__ import annotations

import ast
from pathlib import Path

LAMBDAS = Path(__file__).resolve().parents[2] / "lambdas"

# No circle is known (integrity.services.checkpoint no longer imports integrity.services.witness's reader back);
# the test fails the moment the set of circles changes, either way.
KNOWN_CYCLES: set[frozenset[str]] = set()


def modules(root: Path = LAMBDAS) -> dict[str, Path]:
    found = {}
    for path in (root / "mlaudit").rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that `name` imports anywhere in its file."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            # `from mlaudit.integrity import records` imports the module mlaudit.integrity.records
            targets = [module, *(f"{module}.{alias.name}" for alias in node.names)]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: set[frozenset[str]] = set()

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = {stack.pop()}
            while node not in component:
                component.add(stack.pop())
            if len(component) > 1:
                found.add(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def test_no_import_circle_in_the_domain_package() -> None:
    found = cycles(import_graph())
    assert found == KNOWN_CYCLES, sorted(sorted(c) for c in found ^ KNOWN_CYCLES)


def test_the_walk_sees_deferred_and_type_checking_imports(tmp_path: Path) -> None:
    # Given a package whose two modules import each other only inside a function and
    # under TYPE_CHECKING
    package = tmp_path / "mlaudit"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from mlaudit import b\n    return b\n")
    (package / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import f\n")
    (package / "c.py").write_text("from mlaudit.a import f\n")
    # When the imports are walked
    known = modules(tmp_path)
    graph = {name: imports_of(name, path, known) for name, path in known.items()}
    # Then the circle a <-> b is found, and c (which only imports a) is not in it
    assert cycles(graph) == {frozenset({"mlaudit.a", "mlaudit.b"})}


# mlaudit.integrity's three layers, lowest first: an import only runs down (or within a layer).
INTEGRITY_LAYERS = ("primitives", "services", "verifier")


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    if parts[:2] == ["mlaudit", "integrity"] and len(parts) > 2:
        return INTEGRITY_LAYERS.index(parts[2])
    return None


def reachable(graph: dict[str, set[str]], start: str) -> dict[str, str]:
    """Every module `start` reaches -> the module it was first imported from."""
    seen: dict[str, str] = {}
    todo = [start]
    while todo:
        node = todo.pop()
        for nxt in sorted(graph[node]):
            if nxt not in seen and nxt != start:
                seen[nxt] = node
                todo.append(nxt)
    return seen


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Each integrity module that reaches a higher layer, through any chain of imports (a
    primitive importing mlaudit.x that imports a service counts), and each module outside
    the verifier that imports it: the functions' asset has no verifier to import."""
    found = []
    for module in sorted(graph):
        layer = layer_of(module)
        if layer is not None:
            for target, via in sorted(reachable(graph, module).items()):
                above = layer_of(target)
                if above is not None and above > layer:
                    found.append(f"{module} -> {target}" + (f" (imported by {via})" if via != module else ""))
                    break
        if layer != INTEGRITY_LAYERS.index("verifier"):
            found += [f"{module} -> {target}" for target in sorted(graph[module])
                      if layer_of(target) == INTEGRITY_LAYERS.index("verifier")]
    return sorted(set(found))


def test_every_integrity_module_sits_in_a_layer() -> None:
    graph = import_graph()
    loose = [m for m in graph if m.startswith("mlaudit.integrity.") and m.split(".")[2] not in INTEGRITY_LAYERS]
    assert not loose, f"put each in integrity/primitives, services or verifier: {loose}"
    assert not graph["mlaudit.integrity"], "the package's __init__ imports nothing"


def test_integrity_imports_run_only_down_and_nothing_else_imports_the_verifier() -> None:
    found = upward_imports(import_graph())
    assert not found, "imports up the integrity layers (see mlaudit/integrity/__init__.py):\n" + "\n".join(found)


def test_the_layer_walk_sees_an_import_up(tmp_path: Path) -> None:
    # Given a primitive that imports a service through another module, a service that
    # imports the verifier in a function, and a handler that imports it
    integrity = tmp_path / "mlaudit" / "integrity"
    for layer in INTEGRITY_LAYERS:
        (integrity / layer).mkdir(parents=True)
        (integrity / layer / "__init__.py").write_text("")
    (tmp_path / "mlaudit" / "__init__.py").write_text("")
    (integrity / "__init__.py").write_text("")
    (integrity / "primitives" / "p.py").write_text("from mlaudit import helper\n")
    (tmp_path / "mlaudit" / "helper.py").write_text("from mlaudit.integrity.services import s\n")
    (integrity / "services" / "s.py").write_text("def f():\n    from mlaudit.integrity.verifier.v import g\n")
    (integrity / "verifier" / "v.py").write_text("from mlaudit.integrity.primitives import p\ndef g(): ...\n")
    (tmp_path / "mlaudit" / "handler.py").write_text("from mlaudit.integrity.verifier import v\n")
    # When the layers are checked
    known = modules(tmp_path)
    graph = {name: imports_of(name, path, known) for name, path in known.items()}
    # Then each import up is named (the verifier importing a primitive is not)
    assert upward_imports(graph) == [
        "mlaudit.handler -> mlaudit.integrity.verifier",
        "mlaudit.handler -> mlaudit.integrity.verifier.v",
        "mlaudit.integrity.primitives.p -> mlaudit.integrity.services (imported by mlaudit.helper)",
        "mlaudit.integrity.services.s -> mlaudit.integrity.verifier.v",
    ]
