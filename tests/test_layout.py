"""The layout is the architecture: stage subpackages, no import cycle, no private name used across modules,
modules small enough to read (or saying why not), and one module owning the wire protocol."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "grader"
#: Lines past which a module must say in its docstring why it is one module.
MAX_LINES = 300


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> list[tuple[str, str | None, ast.AST]]:
    """``(module, name or None, node)`` for every grader import in ``path``, at any depth (lazy imports count)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.split(".")[0] == "grader":
            for alias in node.names:
                found.append((node.module, alias.name, node))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "grader":
                    found.append((alias.name, None, node))
    return found


def _graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        for target, name, _ in _imports(path):
            full = f"{target}.{name}" if name else target
            edges[module].add(full if full in MODULES else target)
        edges[module] &= set(MODULES)
        edges[module].discard(module)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_anywhere_in_the_grader():
    assert _cycles(_graph()) == []


def test_no_module_uses_a_private_name_of_another():
    offences = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text())
        bound: dict[str, str] = {}  # local name -> grader module it is bound to
        for target, name, node in _imports(path):
            if name is not None and name.startswith("_") and not name.startswith("__"):
                offences.append(f"{module}: from {target} import {name}")
            full = f"{target}.{name}" if name else target
            if full in MODULES:
                for alias in node.names:
                    if alias.name == (name or target):
                        bound[alias.asname or alias.name.split(".")[0] if name is None else alias.asname or alias.name] = full
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound
                    and node.attr.startswith("_") and not node.attr.startswith("__") and bound[node.value.id] != module):
                offences.append(f"{module}: {node.value.id}.{node.attr} ({bound[node.value.id]})")
    assert offences == []


def test_modules_are_small_or_say_why():
    long = []
    for module, path in MODULES.items():
        lines = path.read_text().count("\n")
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        if lines > MAX_LINES and "one module" not in doc.lower():
            long.append(f"{module}: {lines} lines")
    assert long == []


def test_every_subpackage_says_what_it_owns_and_may_import():
    for init in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert doc and "import" in doc, f"{init.relative_to(ROOT)} needs a docstring saying what it owns and may import"


def test_the_stages_are_folders_and_the_readme_tree_matches_them():
    stages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert {"submissions", "sandbox", "checks", "engine", "reports", "interop", "authoring", "cli"} <= stages
    flat = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert len(flat) <= 6, flat
    readme = (ROOT / "README.md").read_text()
    for name in stages | set(flat):
        assert f"{name}/" in readme or name in readme, f"the README's layout tree lacks grader/{name}"


def test_one_module_owns_the_wire_protocol():
    """Frames, message kinds and the encoding of values both ways live in grader.sandbox.protocol; the student
    process and the trusted side use it, and nothing else reads or writes a frame."""
    for module, path in MODULES.items():
        text = path.read_text()
        if module.startswith("grader.sandbox.protocol"):
            continue
        assert "struct.Struct" not in text and "sock.recv" not in text, module
    users = {m for m, p in MODULES.items() for target, _, _ in _imports(p) if target.startswith("grader.sandbox.protocol")
             or (target == "grader.sandbox" and "protocol" in p.read_text())}
    assert {"grader.sandbox.child", "grader.engine.student", "grader.sandbox.process"} <= users, users


#: What the stages that others build on may import (package -> allowed grader packages and modules).
ALLOWED = {
    "grader.sandbox": {"grader.sandbox"},
    "grader.submissions": {"grader.submissions", "grader.errors"},
    "grader.reports": {"grader.reports", "grader.scoring"},
    "grader.checks": {"grader.checks", "grader.exchange"},
}


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_each_stage_imports_only_what_its_docstring_allows_and_none_imports_the_cli():
    offences = []
    for module, path in MODULES.items():
        targets = {t if n is None or f"{t}.{n}" not in MODULES else f"{t}.{n}" for t, n, _ in _imports(path)}
        for package, allowed in ALLOWED.items():
            if _within(module, package):
                offences += [f"{module} -> {t}" for t in targets if not any(_within(t, a) for a in allowed) and t != "grader"]
        if not _within(module, "grader.cli"):
            offences += [f"{module} -> {t}" for t in targets if _within(t, "grader.cli")]
    assert offences == []
