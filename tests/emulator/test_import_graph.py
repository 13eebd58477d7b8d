"""The emulator's modules import each other without a cycle, imports for type checkers included.

app.py assembles the services; the services see it only through the ``handler_context.Services`` protocol, so
nothing imports app.py back (server.py, control.py and __main__ sit above it).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "emulator"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def relative_imports(path: Path) -> set[str]:
    """The package modules ``path`` imports (``from . import x`` names module x), at any depth of the file."""
    package = module_name(path).split(".") if path.name == "__init__.py" else module_name(path).split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom) or not node.level:
            continue
        base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
        for alias in node.names:
            candidate = f"{base}.{alias.name}"
            as_path = PACKAGE.parent / candidate.replace(".", "/")
            found.add(candidate if as_path.with_suffix(".py").exists() or as_path.is_dir() else base)
    return found


def test_no_module_of_the_emulator_imports_itself_back() -> None:
    graph = {module_name(path): relative_imports(path) for path in PACKAGE.rglob("*.py")}
    cycles = []
    for start in graph:
        seen: set[str] = set()
        stack = [start]
        while stack:
            for target in graph.get(stack.pop(), ()):
                if target == start:
                    cycles.append(start)
                if target not in seen:
                    seen.add(target)
                    stack.append(target)
    assert not cycles, f"modules on an import cycle: {sorted(set(cycles))}"
    assert "emulator.app" in graph["emulator.server"], "the test reads the graph it means to (server imports app)"
