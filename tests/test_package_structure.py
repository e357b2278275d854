"""The package's shape, read from its source with ``ast``: no module imports another module's
private name, the module-level imports of kdbench's modules form no circle, and an import
inside a function (outside cli.py, which imports per sub-command) says on its line why it is
there. Run ``python tests/test_package_structure.py`` to print the import graph's findings."""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "kdbench"


def modules() -> dict[str, Path]:
    out = {}
    for f in sorted(ROOT.rglob("*.py")):
        parts = f.relative_to(ROOT.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return out


MODULES = modules()


def target(mod: str, node: ast.ImportFrom) -> str | None:
    """The absolute module an ``import from`` names (None outside kdbench)."""
    if node.level:
        pkg = mod.split(".") if MODULES[mod].name == "__init__.py" else mod.split(".")[:-1]
        pkg = pkg[:len(pkg) - node.level + 1]
        name = ".".join(pkg + ([node.module] if node.module else []))
    else:
        name = node.module or ""
    return name if name.split(".")[0] == "kdbench" else None


def imports(mod: str):
    """(node, absolute target or None, at module level?) for every import of ``mod``."""
    tree = ast.parse(MODULES[mod].read_text())
    top = {id(n) for n in tree.body}
    for stmt in tree.body:  # `if TYPE_CHECKING:` blocks count as module level too
        if isinstance(stmt, ast.If):
            top |= {id(n) for n in stmt.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            yield node, target(mod, node), id(node) in top
        elif isinstance(node, ast.Import):
            yield node, None, id(node) in top


def edges() -> dict[str, set[str]]:
    """Module-level imports between kdbench modules (``from pkg import submodule`` counts as
    an import of the submodule)."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for mod in MODULES:
        for node, tgt, top in imports(mod):
            if tgt is None or not top:
                continue
            named = [f"{tgt}.{a.name}" for a in node.names if f"{tgt}.{a.name}" in MODULES]
            graph[mod] |= set(named) if len(named) == len(node.names) else {tgt}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                found.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    return found


def private_crossings() -> list[str]:
    out = []
    for mod in MODULES:
        for node, tgt, _ in imports(mod):
            if tgt is None or not isinstance(node, ast.ImportFrom):
                continue
            for a in node.names:
                if a.name.startswith("_") and not a.name.startswith("__") and tgt != mod:
                    out.append(f"{mod}:{node.lineno} imports {tgt}.{a.name}")
    return out


def unexplained_local_imports() -> list[str]:
    out = []
    for mod, path in MODULES.items():
        if mod == "kdbench.cli":
            continue
        lines = path.read_text().splitlines()
        for node, _, top in imports(mod):
            if not top and "#" not in lines[node.lineno - 1]:
                out.append(f"{mod}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    return out


def test_no_module_imports_a_private_name_of_another():
    assert private_crossings() == []


def test_the_module_level_imports_form_no_circle():
    assert cycles(edges()) == []


def test_every_import_inside_a_function_says_why():
    assert unexplained_local_imports() == []


def test_the_probability_floor_is_one_named_constant():
    """No probability is floored with a literal 1e-12: the NLL, the entropies, the calibrators
    and the KD targets clamp with `kdbench.metrics.scores.EPS` (the image code in
    kdbench/data clamps distances, not probabilities, and is not looked at)."""
    found = []
    for mod, path in MODULES.items():
        if mod.startswith("kdbench.data"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("clamp_min", "clamp", "clip", "maximum")
                    and any(isinstance(a, ast.Constant) and a.value == 1e-12
                            for a in [*node.args, *(k.value for k in node.keywords)])):
                found.append(f"{mod}:{node.lineno}")
    assert found == []
    from kdbench.metrics.scores import EPS

    assert EPS == 1e-12


def test_the_checks_see_what_they_look_for(tmp_path, monkeypatch):
    """Negative control: a planted circle, private import and bare local import are found."""
    pkg = tmp_path / "kdbench"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import _hidden\n")
    (pkg / "b.py").write_text("from . import a\n\ndef f():\n    import json\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", pkg)
    monkeypatch.setattr(sys.modules[__name__], "MODULES", modules())
    assert private_crossings() == ["kdbench.a:1 imports kdbench.b._hidden"]
    assert cycles(edges()) == [["kdbench.a", "kdbench.b", "kdbench.a"]]
    assert unexplained_local_imports() == ["kdbench.b:4: import json"]


if __name__ == "__main__":
    print("cycles:", cycles(edges()) or "none")
    print("private crossings:", private_crossings() or "none")
    print("unexplained local imports:", unexplained_local_imports() or "none")
    pytest.main([__file__, "-q", "-p", "no:cacheprovider"])
